// Tried from the outside: a client that half-closes (TCP FIN) once its request is sent.
// HTTP/2 (h2c) with a FIN after the request frames gets its answer; held here. On HTTP/1.1 the
// FIN is taken as the client leaving (499, the upstream request cut and its socket freed, as
// nginx's default; test/proxy/load-and-abort.test.ts holds that): a FIN alone cannot tell a
// half-close from a client that closed for good, and answering half-closes (Node's
// httpAllowHalfOpen, HAProxy's default) kept every abandoned request's upstream socket busy
// until its answer. README "Security limits". Real shardgate process, loopback.

import assert from "node:assert/strict";
import { connect as h2Connect } from "node:http2";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstreams = await startUpstreams(1);
  sg = await startShardgate(
    poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], accessLog: false }),
  );
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

test("h2c: FIN right after the request frames: the stream is answered", async () => {
  const sock = connect(port, "127.0.0.1");
  const session = h2Connect(`http://127.0.0.1:${port}`, { createConnection: () => sock });
  session.on("error", () => {});
  try {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ":path": "/h2half", "x-user-id": "h" });
      let status = 0;
      let body = "";
      stream.on("response", (h) => {
        status = Number(h[":status"]);
      });
      stream.on("data", (d: Buffer) => {
        body += d.toString();
      });
      stream.on("error", reject);
      stream.on("end", () => resolve({ status, body }));
      stream.end();
      // The FIN once the request frames are on the wire.
      session.once("remoteSettings", () => setImmediate(() => sock.end()));
    });
    assert.equal(answer.status, 200);
    assert.match(answer.body, /"path":"\/h2half"/);
  } finally {
    session.destroy();
  }
});
