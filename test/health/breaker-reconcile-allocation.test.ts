// The leader's breaker controller follows a one-member join or leave of a 5,000-member pool
// (refresh after the applied change) in proportion to the member: a leaver is found by a
// merge walk of the previous and current member lists (both in id order), not a Set of the
// whole pool per leave and a walk over every member tracked. Measured as the median
// heapUsed across each refresh (a scavenge inside one can only lower it); and the leaver is
// forgotten (its outcomes are ignored), the joiner adopted (its outcomes are accepted).

import assert from "node:assert/strict";
import { test } from "node:test";
import type { MemberState } from "../../config/state/types.js";
import { BreakerController } from "../../health/breaker-controller.js";
import type { OutcomeCounts } from "../../health/outcome-recorder.js";
import { onePoolState, poolMember, poolSettings } from "../support/one-pool-state.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { FakeClock } from "./controllers-fakes.js";

const SEED = testSeed(16_2020);

function outcome(id: string): OutcomeCounts {
  return {
    pool: "p",
    member: id,
    success: 1,
    failure: 0,
    consecutive: 0,
    maxConsecutive: 0,
    connectErrors: 0,
    resets: 0,
    timeouts: 0,
  };
}

test("a one-member join or leave at 5,000 members costs the breaker controller's refresh one member", () => {
  assert.ok(poolSettings.breaker.enabled, "the breaker is on by default");
  const rnd = seededRandom(SEED);
  const base: MemberState[] = [];
  for (let i = 0; i < 5000; i++) base.push(poolMember(`m${String(i).padStart(5, "0")}`));
  let state = onePoolState(base, 1);
  const c = new BreakerController({
    getState: () => state,
    propose: async () => {
      throw new Error("nothing is proposed here");
    },
    clock: new FakeClock(),
    tickMs: 100,
  });
  c.start();
  try {
    const allocated: number[] = [];
    let joiner = "";
    for (let step = 0; step < 24; step++) {
      if (step % 2 === 0) {
        const k = Math.floor(rnd() * 5000);
        joiner = `m${String(k).padStart(5, "0")}j`;
        state = onePoolState([...base.slice(0, k + 1), poolMember(joiner), ...base.slice(k + 1)], step + 2);
      } else state = onePoolState(base, step + 2);
      const h0 = process.memoryUsage().heapUsed;
      c.refresh();
      allocated.push(process.memoryUsage().heapUsed - h0);
      const r = c.ingest({ entries: [outcome(joiner), outcome("m00000")] });
      assert.equal(r.accepted, step % 2 === 0 ? 2 : 1, `step ${step}: joiner ${joiner} ${seedNote(SEED)}`);
      assert.equal(r.ignored, step % 2 === 0 ? 0 : 1, `step ${step} ${seedNote(SEED)}`);
    }
    // Joins (even steps) and leaves (odd steps) apart: each median over 10 warm refreshes.
    for (const [what, parity] of [
      ["join", 0],
      ["leave", 1],
    ] as const) {
      const xs = allocated.filter((_, step) => step >= 4 && step % 2 === parity).sort((a, b) => a - b);
      const warm = xs[xs.length >> 1];
      assert.ok(
        warm < 64 * 1024,
        `median JS heap bytes per one-member ${what} refresh ${warm} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
      );
    }
  } finally {
    c.stop();
  }
});
