// The order-statistic interval the bench verdicts print around a median of pair ratios
// (bench/median-interval.ts): which order statistics it picks for the round counts the benches
// use, and that its stated coverage is what repeated draws from a skewed noise really give.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { medianInterval } from "../../bench/median-interval.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

describe("medianInterval", () => {
  it("picks the 2nd smallest and 2nd largest of 8 (93 %), the range of 4 (87.5 %)", () => {
    const eight = medianInterval([8, 3, 1, 6, 2, 7, 5, 4]);
    assert.deepEqual([eight.lo, eight.hi], [2, 7]);
    assert.ok(Math.abs(eight.coverage - (1 - (2 * 9) / 256)) < 1e-12, String(eight.coverage));
    const four = medianInterval([0.9, 1.1, 1, 0.95]);
    assert.deepEqual([four.lo, four.hi], [0.9, 1.1]);
    assert.equal(four.coverage, 0.875);
    const twelve = medianInterval(Array.from({ length: 12 }, (_, i) => i));
    assert.deepEqual([twelve.lo, twelve.hi], [2, 9]);
    assert.ok(twelve.coverage >= 0.9 && twelve.coverage < 0.99, String(twelve.coverage));
  });

  it("gives no interval for no usable samples, and no coverage for one", () => {
    assert.equal(medianInterval([]).coverage, 0);
    assert.ok(Number.isNaN(medianInterval([Number.NaN]).lo));
    const one = medianInterval([1.02]);
    assert.deepEqual([one.lo, one.hi, one.coverage], [1.02, 1.02, 0]);
  });

  it("covers the true median as often as it says, under skewed noise", () => {
    const seed = testSeed(20_261_207);
    const random = seededRandom(seed);
    // Ratios of two runs slowed by bursts: lognormal-ish with a heavy right tail, true median 1.
    const draw = () => {
      const u = Math.max(random(), 1e-12);
      const v = random();
      const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      return (Math.exp(0.12 * normal) * (random() < 0.2 ? 1.3 : 1)) / (random() < 0.2 ? 1.3 : 1);
    };
    for (const n of [6, 8, 10]) {
      const trials = 4000;
      let covered = 0;
      let stated = 0;
      for (let t = 0; t < trials; t++) {
        const m = medianInterval(Array.from({ length: n }, draw));
        stated = m.coverage;
        if (m.lo <= 1 && 1 <= m.hi) covered++;
      }
      assert.ok(
        Math.abs(covered / trials - stated) < 0.025,
        `n ${n}: covered ${covered / trials}, stated ${stated} ${seedNote(seed)}`,
      );
    }
  });
});
