// Distribution and movement analysis used by `ring simulate`.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  idealMovedFraction,
  keysPerMember,
  loadStats,
  movedFraction,
  ownersOf,
} from "../../ring/analysis.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import { seedNote, testSeed } from "../support/prng.js";
import { randomHashes } from "./support.js";

const equal = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `m${i}`, weight: 1 }));

describe("analysis", () => {
  it("loadStats computes min, mean, max, population stddev, max/mean", () => {
    const s = loadStats([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.deepEqual(s, { min: 2, mean: 5, max: 9, stddev: 2, maxOverMean: 1.8 });
    assert.deepEqual(loadStats([]), { min: 0, mean: 0, max: 0, stddev: 0, maxOverMean: 0 });
    assert.equal(loadStats(new Int32Array([0, 0])).maxOverMean, 0);
  });

  it("idealMovedFraction is k/(n+k) on add and k/n on remove, weight-aware", () => {
    assert.ok(Math.abs(idealMovedFraction(equal(10), equal(11)) - 1 / 11) < 1e-12);
    assert.ok(Math.abs(idealMovedFraction(equal(10), equal(8)) - 2 / 10) < 1e-12);
    assert.equal(idealMovedFraction(equal(4), equal(4)), 0);
    assert.equal(idealMovedFraction([], equal(3)), 1);
    assert.equal(idealMovedFraction(equal(3), []), 1);
    assert.equal(idealMovedFraction([], []), 0);
    const doubled = equal(4).map((m, i) => (i === 0 ? { ...m, weight: 2 } : m));
    assert.ok(Math.abs(idealMovedFraction(equal(4), doubled) - (2 / 5 - 1 / 4)) < 1e-12);
  });

  it("movedFraction compares owners by id: zero for the same members, exact on a removal", () => {
    const seed = testSeed(77);
    const hashes = randomHashes(seed, 20_000);
    const a = buildRingHash(equal(10));
    assert.equal(movedFraction(a, buildRingHash(equal(10).reverse()), hashes), 0);
    const b = buildRingHash(equal(10).filter((m) => m.id !== "m3"));
    const owned = keysPerMember(a, hashes)[a.members.findIndex((m) => m.id === "m3")];
    assert.equal(movedFraction(a, b, hashes), owned / hashes.length, seedNote(seed));
    assert.equal(ownersOf(buildRingHash([]), hashes)[0], -1);
    assert.equal(movedFraction(buildRingHash([]), a, hashes), 1);
  });
});
