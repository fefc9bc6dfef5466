// The timeout sweep's tick stops at the first context that started less than the shortest
// timeout ago (the list is in attempt-start order), and still finds every due context when
// contexts were added out of order.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { RequestContext } from "../../proxy/forward/request-context.js";
import { TimeoutSweep } from "../../proxy/forward/timeout-sweep.js";
import { eventuallyTrue } from "../support/wait.js";

const TIMEOUTS = { settings: { timeouts: { connect: 100, response: 1000 } } };

/** A waiting context (body sent at its start) that counts how often a tick looked at its deadline. */
function ctxAt(startedAt: number, looks: { n: number }): RequestContext {
  const ctx = {
    proxyReq: null,
    attemptStartedAt: startedAt,
    sentAt: startedAt,
    responseStarted: false,
    timedOut: null,
    prev: null,
    next: null,
    inSweep: false,
  } as unknown as RequestContext;
  Object.defineProperty(ctx, "snapshot", {
    get() {
      looks.n++;
      return TIMEOUTS;
    },
  });
  return ctx;
}

test("sweep: a tick fires the due contexts and stops at the first young one; out of order, it reads all", async () => {
  let now = 0;
  const fired: RequestContext[] = [];
  const sweep = new TimeoutSweep(
    5,
    () => now,
    (ctx) => {
      fired.push(ctx);
      ctx.timedOut = "timeout";
      sweep.remove(ctx);
    },
  );
  const old = { n: 0 };
  const young = { n: 0 };
  const due = [ctxAt(0, old), ctxAt(10, old)];
  for (const c of due) sweep.add(c);
  const n = 10_000;
  for (let i = 0; i < n; i++) sweep.add(ctxAt(1550, young));
  young.n = 0; // add() reads the timeouts once; from here on only ticks count
  // The due ones waited 1,590 ms and more (response timeout 1,000); the young ones 50 ms, less
  // than the shortest timeout (connect, 100 ms): no tick reads their deadlines.
  now = 1600;
  assert.ok(await eventuallyTrue(() => fired.length >= 2, 10_000), "the sweep ticked");
  assert.deepEqual(fired, due);
  assert.ok(await eventuallyTrue(() => old.n >= 4, 10_000), "ticks went on");
  assert.equal(young.n, 0, "a tick read the deadline of a context younger than the shortest timeout");
  // Added out of order (an injected clock): the early stop is off, the old one is found.
  const late = ctxAt(0, old);
  sweep.add(late);
  assert.ok(await eventuallyTrue(() => fired.length === 3, 10_000), "the out-of-order one fired");
  assert.equal(fired[2], late);
  assert.ok(young.n >= n, "out of order: the tick read every deadline");
  sweep.close();
});
