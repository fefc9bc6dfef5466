// A pipelined request whose answer is still queued (Node gives it the connection only once the
// answer before it is written whole) when its client closes the connection. Found: Node never
// emits 'close' on such an answer, so the data plane never ended the request: it stayed in
// flight for good (no access line, its context held, and a shutdown waited the whole drain
// timeout for it). Both engines; the member is slow, so both requests are in flight at the close.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { ENGINES } from "../support/per-engine.js";
import { eventually } from "../support/wait.js";
import { startHarness } from "./harness.js";

for (const engine of ENGINES) {
  test(`${engine}: two pipelined GETs, the client gone before either answer: both requests end`, async (t) => {
    const h = await startHarness({ members: 1, options: { engine } });
    t.after(() => h.close());
    h.upstreams[0].mode = { kind: "delay", ms: 2_000 };
    const s = connect(h.port, "127.0.0.1");
    s.on("error", () => undefined);
    t.after(() => s.destroy());
    const get = "GET /p HTTP/1.1\r\nHost: x\r\nx-user-id: k\r\n\r\n";
    s.write(get + get);
    await eventually("both requests are in flight", () => (h.plane.inFlight() === 2 ? true : undefined));
    s.destroy();
    await eventually("both requests ended", () => (h.plane.inFlight() === 0 ? true : undefined));
    assert.equal(h.rec.ends.length, 2);
    for (const end of h.rec.ends) assert.equal(end.status, 499, JSON.stringify(end));
  });
}
