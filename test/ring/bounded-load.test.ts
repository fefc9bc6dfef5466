// Bounded-load decorator: the cap ceil(factor * (total + 1) / n) holds given arbitrary
// loads, the walk follows the inner successor order deterministically, and the fallback
// when accept refuses every member under the cap.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { boundedLoadPerMember } from "../../ring/analysis.js";
import { withBoundedLoad } from "../../ring/bounded-load.js";
import { buildMaglev } from "../../ring/maglev.js";
import { RingConfigError } from "../../ring/ring-error.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import type { HashTable, RingMember } from "../../ring/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(9001);

import { randomHashes } from "./support.js";

const equal = (n: number): RingMember[] => Array.from({ length: n }, (_, i) => ({ id: `m${i}`, weight: 1 }));
const inners: [string, (m: RingMember[]) => HashTable][] = [
  ["ring", (m) => buildRingHash(m)],
  ["maglev", (m) => buildMaglev(m)],
];

for (const [name, build] of inners) {
  describe(`bounded load over ${name}`, () => {
    it("picks the first successor under the cap, for random loads", () => {
      const seed = SEED;
      const rnd = seededRandom(seed);
      const n = 10;
      const t = withBoundedLoad(build(equal(n)), { balanceFactor: 1.25 });
      const loads = new Int32Array(n);
      for (const h of randomHashes(seed, 500)) {
        let total = 0;
        for (let m = 0; m < n; m++) {
          loads[m] = Math.floor(rnd() * 20);
          total += loads[m];
        }
        const cap = Math.ceil((1.25 * (total + 1)) / n);
        for (let m = 0; m < n; m++) assert.equal(t.capOf(m, total), cap);
        const got = t.pickBounded(h, () => true, loads, total);
        const expected = [...t.successors(h)].find((m) => loads[m] < cap);
        assert.equal(got, expected, `hash ${h} loads ${[...loads]} cap ${cap} (${seedNote(SEED)})`);
        assert.ok(loads[got] < cap);
        // Deterministic: asking again gives the same answer.
        assert.equal(
          t.pickBounded(h, () => true, loads, total),
          got,
        );
      }
    });

    it("keeps every member under the cap when keys arrive as in-flight load", () => {
      const seed = SEED + 1;
      for (const factor of [1, 1.1, 1.25, 2]) {
        const n = 16;
        const t = withBoundedLoad(build(equal(n)), { balanceFactor: factor });
        const hashes = randomHashes(seed, 20_000);
        const loads = new Int32Array(n);
        for (let i = 0; i < hashes.length; i++) {
          const cap = t.capOf(0, i);
          const m = t.pickBounded(hashes[i], () => true, loads, i);
          assert.ok(
            loads[m] < cap,
            `key ${i} factor ${factor}: load ${loads[m]} cap ${cap} (${seedNote(SEED)})`,
          );
          loads[m]++;
        }
        const max = Math.max(...loads);
        assert.ok(
          max <= Math.ceil((factor * hashes.length) / n),
          `factor ${factor}: max ${max} (${seedNote(SEED)})`,
        );
        assert.deepEqual(boundedLoadPerMember(t, hashes), loads);
      }
    });

    it("combines the cap with accept, and falls back to an over-cap member only when it must", () => {
      const t = withBoundedLoad(build(equal(4)), { balanceFactor: 1 });
      const h = 0xdeadbeef;
      const order = [...t.successors(h)];
      const loads = new Int32Array(4);
      loads[order[0]] = 10; // hot owner
      const total = 10;
      // cap = ceil(11/4) = 3: the owner is skipped for load.
      assert.equal(
        t.pickBounded(h, () => true, loads, total),
        order[1],
      );
      // accept refuses order[1]: next under the cap.
      assert.equal(
        t.pickBounded(h, (m) => m !== order[1], loads, total),
        order[2],
      );
      // accept takes only the hot owner: fallback to it, each member asked once.
      const asked: number[] = [];
      const got = t.pickBounded(
        h,
        (m) => {
          asked.push(m);
          return m === order[0];
        },
        loads,
        total,
      );
      assert.equal(got, order[0]);
      assert.deepEqual(asked.slice().sort(), [0, 1, 2, 3]);
      assert.equal(
        t.pickBounded(h, () => false, loads, total),
        -1,
      );
    });

    it("lookup/pick/successors are the inner table's", () => {
      const inner = build(equal(5));
      const t = withBoundedLoad(inner);
      for (const h of randomHashes(1, 200)) {
        assert.equal(t.lookup(h), inner.lookup(h));
        assert.deepEqual([...t.successors(h)], [...inner.successors(h)]);
      }
      assert.equal(t.algorithm, `bounded-load/${name}`);
      assert.equal(t.members, inner.members);
    });
  });
}

describe("bounded load with weights", () => {
  it("caps each member in proportion to its weight", () => {
    const seed = SEED + 2;
    const members = [
      { id: "a", weight: 1 },
      { id: "b", weight: 1 },
      { id: "c", weight: 2 },
      { id: "d", weight: 4 },
    ];
    const t = withBoundedLoad(buildRingHash(members), { balanceFactor: 1.1 });
    const hashes = randomHashes(seed, 16_000);
    const loads = new Int32Array(4);
    for (let i = 0; i < hashes.length; i++) {
      const m = t.pickBounded(hashes[i], () => true, loads, i);
      assert.ok(loads[m] < t.capOf(m, i), `key ${i}: ${members[m].id} at ${loads[m]} (${seedNote(SEED)})`);
      loads[m]++;
    }
    for (let m = 0; m < 4; m++) {
      const limit = Math.ceil((1.1 * hashes.length * members[m].weight) / 8);
      assert.ok(loads[m] <= limit, `${members[m].id}: ${loads[m]} > ${limit} (${seedNote(SEED)})`);
    }
    assert.equal(t.capOf(3, 99), Math.ceil((1.1 * 100 * 4) / 8));
    assert.equal(t.capOf(7, 99), 0);
  });
});

describe("bounded load validation", () => {
  it("rejects a factor below 1 or not finite", () => {
    for (const f of [0.99, 0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => withBoundedLoad(buildRingHash(equal(2)), { balanceFactor: f }),
        (e: unknown) =>
          e instanceof RingConfigError &&
          e.code === "RING_INVALID_BOUNDED_LOAD" &&
          /balanceFactor must be a finite number >= 1.0/.test(e.message),
      );
    }
  });

  it("rejects a load array shorter than the members, and returns -1 with no members", () => {
    const t = withBoundedLoad(buildRingHash(equal(3)));
    assert.throws(
      () => t.pickBounded(1, () => true, new Int32Array(2), 0),
      /inFlight has 2 entries for 3 members/,
    );
    assert.equal(
      withBoundedLoad(buildRingHash([])).pickBounded(1, () => true, new Int32Array(0), 0),
      -1,
    );
  });
});
