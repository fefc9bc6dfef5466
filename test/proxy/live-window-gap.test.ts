// A member's live window is sampled only when someone reads it, and the dashboard now reads the
// members of the page it shows only. A member off every open page keeps its last sample, so
// when a page comes back to it the figures were measured from that sample: the average over
// the minutes since, errors long over included, not the last ~10 s the view promises.

import assert from "node:assert/strict";
import { test } from "node:test";
import { LiveCounts, LiveWindow } from "../../proxy/metrics/live-window.js";

test("a window unread for longer than its span measures from a fresh sample, not the stale one", () => {
  const counts = new LiveCounts();
  const w = new LiveWindow(counts);
  const serve = (n: number, error: boolean) => {
    for (let i = 0; i < n; i++) counts.record(0.002, error);
  };
  // Shown on a page: read every second.
  w.read(0);
  serve(10, false);
  assert.equal(w.read(1_000).rate, 10);
  // Off every page for five minutes: 1,000 failures early on, then 10 good requests a second.
  serve(1_000, true);
  serve(100, false);
  const back = w.read(301_000);
  assert.equal(back.errorRate, 0, `first read after the gap: ${JSON.stringify(back)}`);
  serve(10, false);
  const next = w.read(302_000);
  assert.deepEqual(
    { rate: next.rate, errorRate: next.errorRate },
    { rate: 10, errorRate: 0 },
    `the second read measures the last second, not the five minutes: ${JSON.stringify(next)}`,
  );
});

test("a window read at least every second keeps measuring over about ten seconds", () => {
  const counts = new LiveCounts();
  const w = new LiveWindow(counts);
  for (let t = 0; t <= 30_000; t += 1_000) {
    const f = w.read(t);
    if (t >= 1_000) assert.equal(f.rate, 5, `t=${t} ms: ${JSON.stringify(f)}`);
    for (let i = 0; i < 5; i++) counts.record(0.002, false);
  }
});
