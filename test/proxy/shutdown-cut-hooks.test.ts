// The data plane's close (the shutdown's drain deadline) with requests still on a slow member,
// on both engines: what the hooks hear. The cut is shardgate's own, so no onUpstreamError (the
// breaker's and the outlier detector's input) and no member outcome: the record says
// shutting_down. Found: closing the member connections failed each waiting request as the
// member's reset (onUpstreamError kind "reset", then a 502 upstream_reset answer), and a
// request arriving after the close was answered no_available_member, as if the pool had none.

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import { ENGINES } from "../support/per-engine.js";
import { eventually } from "../support/wait.js";
import { send, startHarness } from "./harness.js";

for (const engine of ENGINES) {
  test(`${engine}: a request waiting for its member's head at close is answered 503 shutting_down; no upstream error`, async (t) => {
    const h = await startHarness({ members: 1, options: { engine } });
    t.after(() => h.close());
    h.upstreams[0].mode = { kind: "delayHeaders", ms: 10_000 };
    const reply = send(h.port, { path: "/slow", headers: { "x-user-id": "k" } });
    await eventually("the member has the request", () => (h.upstreams[0].requests === 1 ? true : undefined));
    h.plane.close();
    const r = await reply;
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json().error, "shutting_down");
    await eventually("the request's record", () => (h.rec.ends.length === 1 ? true : undefined));
    assert.equal(h.rec.ends[0].errorCode, "shutting_down");
    assert.equal(h.rec.ends[0].status, 503);
    assert.deepEqual(h.rec.upstreamErrors, [], "nothing counted against the member");
    assert.deepEqual(h.rec.retries, [], "not retried on another member");
    // One that arrives after the deadline (the listener here is still open) is the shutdown's too.
    const late = await send(h.port, { path: "/late", headers: { "x-user-id": "k" } });
    assert.equal(late.status, 503, late.text);
    assert.equal(late.json().error, "shutting_down");
  });

  test(`${engine}: an answer streaming at close is cut, its status kept, logged shutting_down; no upstream error`, async (t) => {
    const h = await startHarness({ members: 1, options: { engine } });
    t.after(() => h.close());
    h.upstreams[0].mode = { kind: "slowStream", chunks: 100, everyMs: 100 };
    const head = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: h.port, path: "/stream", headers: { "x-user-id": "k" }, agent: false },
        (res) => {
          res.resume();
          res.on("error", () => undefined);
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(await head, 200);
    h.plane.close();
    await eventually("the request's record", () => (h.rec.ends.length === 1 ? true : undefined));
    assert.equal(h.rec.ends[0].errorCode, "shutting_down");
    assert.equal(h.rec.ends[0].status, 200, "the status sent stands");
    assert.deepEqual(h.rec.upstreamErrors, [], "nothing counted against the member");
  });
}
