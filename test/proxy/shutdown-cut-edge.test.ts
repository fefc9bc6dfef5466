// A request on a route with edge features (affinity, rate limit, cache) that is still in its
// edge step (a Redis lookup) at the drain deadline, both engines. Found: close() answers only the
// requests waiting for a member; the edge's proceed() after the close started a first attempt
// anyway, on a member agent made afresh (closeAll had dropped them all), so the request reached
// the member after the deadline and its client was then cut with no answer (logged 499). Now a
// request the edge hands back after the close is answered 503 shutting_down and never sent.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { RequestContext } from "../../proxy/forward/request-context.js";
import type { EdgeContinuation, EdgeHooks } from "../../proxy/forward/types.js";
import { eventually } from "../support/wait.js";
import { send, startHarness } from "./harness.js";

/** An edge whose step waits until the test lets it go on (a slow store lookup). */
function heldEdge(): { hooks: EdgeHooks; waiting: Array<() => void> } {
  const waiting: Array<() => void> = [];
  const route = {
    begin(ctx: RequestContext, cont: EdgeContinuation) {
      waiting.push(() => cont.proceed(ctx));
    },
    onResponse() {},
    onHeaders() {},
  };
  return { hooks: { forRoute: () => route }, waiting };
}

test("a request its edge step hands on after the close is answered 503 shutting_down, never sent", async (t) => {
  const edge = heldEdge();
  const h = await startHarness({ members: 1, edge: edge.hooks });
  t.after(() => h.close());
  const reply = send(h.port, { path: "/edge", headers: { "x-user-id": "k" } });
  await eventually("the edge step holds the request", () => (edge.waiting.length === 1 ? true : undefined));
  h.plane.close();
  edge.waiting[0]();
  const r = await reply;
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json().error, "shutting_down");
  assert.equal(h.upstreams[0].requests, 0, "nothing reaches the member after the deadline");
  await eventually("the request's record", () => (h.rec.ends.length === 1 ? true : undefined));
  assert.equal(h.rec.ends[0].errorCode, "shutting_down");
  assert.equal(h.rec.ends[0].attempts, 0);
});
