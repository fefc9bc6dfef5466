// An upgrade still waiting for its member's 101 at the drain deadline (the data plane's close):
// its client is answered 503 shutting_down before the socket is destroyed, the record says
// shutting_down, nothing is counted against the member, and its share slot comes back.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { eventually } from "../support/wait.js";
import { startHarness } from "./harness.js";

const UPGRADE =
  "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-User-Id: k\r\n\r\n";

test("an upgrade waiting for its 101 at close is answered 503 shutting_down; no upstream error", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  h.upstreams[0].mode = { kind: "stallUpgrade" };
  const socket = connect(h.port, "127.0.0.1");
  socket.on("error", () => undefined);
  const answer = new Promise<string>((resolve) => {
    let got = "";
    socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
    socket.on("close", () => resolve(got));
  });
  socket.write(UPGRADE);
  await eventually("the member has the upgrade", () => (h.upstreams[0].requests === 1 ? true : undefined));
  h.plane.close();
  const got = await answer;
  assert.match(got, /^HTTP\/1\.1 503/, got);
  assert.match(got, /shutting_down/);
  await eventually("the upgrade's record", () => (h.rec.ends.length === 1 ? true : undefined));
  assert.equal(h.rec.ends[0].errorCode, "shutting_down");
  assert.equal(h.rec.ends[0].status, 503);
  assert.deepEqual(h.rec.upstreamErrors, [], "nothing counted against the member");
  assert.equal(h.plane.inFlight(), 0);
});
