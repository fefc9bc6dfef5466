// Tried from the outside: an HTTP/2 client uploading fast to an h2c member that reads none of
// it, past listen.timeouts.request. Real shardgate process, node:http2 client and member.
//
// Found: the client got its 504 upstream_timeout (the member not reading, README "Who is slow")
// but its stream never closed and the request never got its access line, not even after the
// client's connection was gone: the request timeout closed the stream (NO_ERROR) before the
// answer was out, the client never saw that reset, and the body bytes backed up in shardgate
// behind the member, unread, kept Node from ever destroying the stream. Now the answer given at
// the request timeout is followed by the reset once it is out, and the request is read on
// (proxy/server/h2-request-timeout.ts, h2-answered-upload.ts).

import assert from "node:assert/strict";
import { connect, type IncomingHttpHeaders } from "node:http2";
import { after, before, test } from "node:test";
import { accessLineOf, startH2cFixture } from "../support/h2-fixture.js";
import type { FlowUpstream } from "../support/h2-flow-upstream.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

let up: FlowUpstream;
let sg: RunningShardgate;

before(async () => {
  ({ up, sg } = await startH2cFixture({ request: "1s" }));
});

after(async () => {
  await stopAll();
  await up.close();
});

test("an upload backed up behind a member reading none: 504 at the request timeout, the stream closed, the access line written", async () => {
  const session = connect(sg.httpUrl);
  session.on("error", () => {});
  try {
    const st = session.request({
      ":method": "POST",
      ":path": "/sink",
      "content-type": "application/octet-stream",
      "x-user-id": "uploader",
    });
    st.on("error", () => {});
    st.on("data", () => {});
    const head = new Promise<IncomingHttpHeaders>((r) => st.once("response", r));
    // 16 KiB every 10 ms, at most 300 times: far more than the windows take.
    let sent = 0;
    const pump = setInterval(() => {
      if (sent < 300 && !st.destroyed) {
        sent++;
        st.write(Buffer.alloc(16 * 1024, 0x71));
      }
    }, 10);
    try {
      const h = await head;
      assert.equal(h[":status"], 504);
      // The stream closes (the client's connection stays open): bounded at 20 s.
      const closed = await Promise.race([
        new Promise<number>((r) => st.once("close", () => r(st.rstCode ?? -1))),
        new Promise<null>((r) => setTimeout(() => r(null), scaled(20_000)).unref()),
      ]);
      assert.equal(closed, 0, "the stream still open 20 s after its answer");
      const line = await accessLineOf(sg, String(h["x-request-id"]), 20_000);
      assert.equal(line.status, 504);
      assert.equal(line.error, "upstream_timeout");
    } finally {
      clearInterval(pump);
    }
  } finally {
    session.destroy();
  }
});
