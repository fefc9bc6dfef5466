// The per-pool retry budget: retries may add `ratio` of the first tries in the window, with
// `minPerSecond` always allowed; both counters roll over on the injected clock.

import assert from "node:assert/strict";
import { test } from "node:test";
import { RetryBudget } from "../../proxy/forward/retry-budget.js";

function takes(b: RetryBudget, now: number, n: number): boolean[] {
  return Array.from({ length: n }, () => b.tryTake(now));
}

test("the ratio of first tries bounds retries once the per-second floor is spent", () => {
  const b = new RetryBudget(0.5, 0);
  for (let i = 0; i < 4; i++) b.recordRequest(0);
  assert.deepEqual(takes(b, 0, 3), [true, true, false], "0.5 x 4 requests = 2 retries");
  b.recordRequest(500);
  b.recordRequest(500);
  assert.deepEqual(takes(b, 500, 2), [true, false], "6 requests allow a third retry");
  // A new window forgets both requests and retries.
  assert.equal(b.tryTake(10_000), false, "no requests in the new window, no floor");
  b.recordRequest(10_000);
  b.recordRequest(10_000);
  assert.deepEqual(takes(b, 10_000, 2), [true, false]);
});

test("minPerSecond retries are allowed without any request, once per second", () => {
  const b = new RetryBudget(0, 2);
  assert.deepEqual(takes(b, 0, 3), [true, true, false]);
  assert.deepEqual(takes(b, 999, 1), [false], "still the same second");
  assert.deepEqual(takes(b, 1000, 3), [true, true, false], "the floor refills each second");
});
