// A gRPC call whose grpc-timeout is malformed (no digits, a sign, more than the 8 digits
// PROTOCOL-HTTP2 allows, an unknown unit) used to be forwarded unchanged with no deadline
// applied. grpc-go's server refuses such a call with INTERNAL ("malformed grpc-timeout");
// shardgate now does the same at the edge (bad_grpc_timeout, README "HTTP/2 and gRPC"), and
// the member never sees it. A well-formed value still reaches the member as its deadline.
// A real shardgate process, a real @grpc/grpc-js server, raw h2 calls (a grpc-js client
// cannot send a malformed grpc-timeout).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ECHO_SERVICE, type GrpcEcho, startGrpcEcho } from "../support/grpc-echo.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

let echo: GrpcEcho;
let sg: RunningShardgate;

before(async () => {
  echo = await startGrpcEcho("g1");
  sg = await startShardgate(
    poolConfig({ members: [{ id: "g1", port: echo.port }], poolExtra: "    protocol: h2c\n" }),
    { timeoutMs: 60_000 },
  );
});

after(async () => {
  await stopAll();
  await echo.close();
});

/** One gRPC frame: not compressed, a 5-byte message (what the echo's codec reads as bytes). */
const FRAME = Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from("hello")]);

function call(session: Parameters<typeof h2Request>[0], grpcTimeout: string) {
  return h2Request(session, {
    method: "POST",
    path: ECHO_SERVICE.Unary.path,
    headers: {
      "content-type": "application/grpc",
      te: "trailers",
      "x-user-id": "u1",
      "grpc-timeout": grpcTimeout,
    },
    body: FRAME,
  });
}

test("a malformed grpc-timeout gets INTERNAL bad_grpc_timeout and reaches no member", async (t) => {
  const session = await h2Session(t, sg.httpUrl);
  const callsBefore = echo.calls;
  for (const bad of ["abc", "-5S", "123456789S", "5X", "S", "1.5S"]) {
    const r = await call(session, bad);
    assert.equal(r.status, 200, `${JSON.stringify(bad)}: ${JSON.stringify(r.headers)}`);
    assert.equal(r.headers["grpc-status"], "13", `${JSON.stringify(bad)}: ${JSON.stringify(r.headers)}`);
    assert.match(String(r.headers["grpc-message"]), /bad_grpc_timeout/, JSON.stringify(bad));
    assert.equal(r.headers["x-shardgate-error"], "bad_grpc_timeout");
  }
  assert.equal(echo.calls, callsBefore, "a call with a malformed grpc-timeout reached the member");
  // Well-formed: forwarded, and the member gets a deadline no later than the one asked for.
  const deadlines = echo.deadlinesLeft.length;
  const ok = await call(session, "99999999m");
  assert.equal(ok.status, 200);
  assert.equal(ok.headers["grpc-status"] ?? "0", "0", JSON.stringify(ok.headers));
  assert.equal(echo.calls, callsBefore + 1);
  assert.equal(echo.deadlinesLeft.length, deadlines + 1, "the member saw a deadline");
  assert.ok(echo.deadlinesLeft[deadlines] <= 99_999_999, `${echo.deadlinesLeft[deadlines]} ms left`);
});
