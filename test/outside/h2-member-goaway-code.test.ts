// A member of an h2c pool that ends its session with GOAWAY and an error code, tried from the
// outside: real shardgate processes, a raw frame member (last-stream-id 0) and a node:http2
// member (last-stream-id its stream's), node:http2 clients (plain and gRPC).
// RFC 9113 section 6.8: a stream above the GOAWAY's last-stream-id was not processed, whatever
// the code, so it may go again. With NO_ERROR it did (h2-goaway-replay.test.ts); with
// ENHANCE_YOUR_CALM (a member shedding load) Node destroys the session at once and each such
// stream failed as a plain reset: 502 upstream_reset, gRPC 14, though the member never saw the
// request (2 of 2 calls fail on the old code). Now it is sent again on the member's next
// session and answered. A GOAWAY whose last-stream-id covers the stream (the member may have
// processed it) still ends it as before: 502 upstream_reset, gRPC 14 UNAVAILABLE with its
// reason, at once (no wait for a timeout).

import assert from "node:assert/strict";
import {
  connect,
  constants,
  createServer,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import {
  type FrameScriptedH2cMember,
  startFrameScriptedH2cMember,
} from "../support/frame-scripted-h2c-member.js";
import { EMPTY_MESSAGE, h2Call, h2cPoolConfig } from "../support/h2-fixture.js";
import { frame, literal } from "../support/h2-frames.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

/** Far below the pool's response timeout (60 s): an answer that waited for it fails here. */
const ANSWER_MS = 10_000;

/** Fronts the shedding member (a raw frame member: Node's goaway() cannot say last-stream-id 0). */
let shedSg: RunningShardgate;
/** Fronts the node:http2 member whose GOAWAY covers the stream. */
let coveredSg: RunningShardgate;
let shedding: FrameScriptedH2cMember;
const covering = createServer();
/** Streams the covering member received. */
let coveredStreams = 0;

/** A trailers-only gRPC answer (OK) or a bare 200, END_STREAM. */
function answer(stream: number, grpc: boolean): Buffer {
  const block = Buffer.concat([
    Buffer.from([0x88]),
    ...(grpc ? [literal("content-type", "application/grpc"), literal("grpc-status", "0")] : []),
  ]);
  return frame(1, 0x5, stream, block);
}

/** GOAWAY(ENHANCE_YOUR_CALM, last-stream-id 0): nothing on the session was processed. */
const SHED = frame(7, 0, 0, Buffer.from([0, 0, 0, 0, 0, 0, 0, constants.NGHTTP2_ENHANCE_YOUR_CALM]));

covering.on("stream", (st: ServerHttp2Stream) => {
  coveredStreams++;
  st.on("error", () => {});
  // Node's goaway() names the last stream it processed: this one.
  st.session?.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
});
covering.on("session", (s: ServerHttp2Session) => s.on("error", () => {}));

before(async () => {
  // The first request after the test sets shedNext is shed, with its session; every other one
  // is answered once it has all arrived (END_STREAM), as a gRPC server when grpcAnswers is set.
  shedding = await startFrameScriptedH2cMember((_nth, s) => (f) => {
    if (f.type === 1) shedStreams++;
    if (f.type === 1 && shedNext) {
      shedNext = false;
      s.write(SHED);
      return;
    }
    if ((f.type === 0 || f.type === 1) && (f.flags & 1) === 1) s.write(answer(f.stream, grpcAnswers));
  });
  shedSg = await startShardgate(h2cPoolConfig([{ id: "g1", port: shedding.port }], { response: "60s" }));
  await new Promise<void>((r) => covering.listen(0, "127.0.0.1", r));
  const port = (covering.address() as AddressInfo).port;
  coveredSg = await startShardgate(h2cPoolConfig([{ id: "g1", port }], { response: "60s" }));
});

after(async () => {
  await stopAll();
  await shedding?.close();
  await new Promise((r) => covering.close(r));
});

/** Whether the shedding member answers as a gRPC server, and sheds the next request. */
let grpcAnswers = false;
let shedNext = false;
/** Streams (HEADERS) the shedding member received. */
let shedStreams = 0;

async function call(sg: RunningShardgate, path: string, grpc: boolean) {
  const c = connect(sg.httpUrl);
  c.on("error", () => {});
  try {
    const headers: Record<string, string> = grpc
      ? {
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          "x-user-id": "k",
        }
      : { ":path": path, "x-user-id": "k" };
    const a = await h2Call(c, headers, grpc ? EMPTY_MESSAGE : undefined);
    const grpcStatus = a.trailers?.["grpc-status"] ?? a.head?.["grpc-status"];
    const grpcMessage = a.trailers?.["grpc-message"] ?? a.head?.["grpc-message"];
    return { status: Number(a.head?.[":status"]), grpcStatus, grpcMessage, ms: a.ms };
  } finally {
    c.close();
  }
}

for (const grpc of [false, true]) {
  const kind = grpc ? "gRPC call" : "GET";
  test(`a ${kind} above a member's GOAWAY ENHANCE_YOUR_CALM goes again on its next session and is answered`, async () => {
    grpcAnswers = grpc;
    shedNext = true;
    const streams = shedStreams;
    const a = await call(shedSg, "/shed", grpc);
    assert.equal(a.status, 200, `answer ${JSON.stringify(a)}\n${shedSg.proc.output()}`);
    if (grpc) assert.equal(a.grpcStatus, "0", `grpc-status ${a.grpcStatus} ${a.grpcMessage}`);
    assert.equal(shedStreams - streams, 2, "sent twice: shed unprocessed, then answered on a new session");
    assert.ok(a.ms < ANSWER_MS, `answered in ${Math.round(a.ms)} ms`);
  });

  test(`a ${kind} a member's GOAWAY ENHANCE_YOUR_CALM covers fails at once with a clear status, not sent again`, async () => {
    const before = coveredStreams;
    const a = await call(coveredSg, "/covered", grpc);
    if (grpc) {
      assert.equal(a.status, 200);
      assert.equal(a.grpcStatus, String(14), `grpc-status ${a.grpcStatus}`);
      assert.match(String(a.grpcMessage), /upstream_reset/);
    } else assert.equal(a.status, 502, `answer ${JSON.stringify(a)}`);
    assert.equal(coveredStreams - before, 1, "sent once: the member may have processed it");
    assert.ok(a.ms < ANSWER_MS, `answered in ${Math.round(a.ms)} ms`);
  });
}
