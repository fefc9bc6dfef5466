// The ring's bucket index is sized to the ring (issue 15): a ring of fewer than
// PACKED_MIN_POINTS points keeps its points and owners and an index of 8-16 buckets per point,
// so a 3-member pool's lookup arrays take 20 KiB instead of a fixed 256 KiB index (a cache
// miss per request). Lookups must stay the same, bit for bit: checked here against a plain binary
// search over the whole ring at seeded sizes from 1 to 70,000 points, on both sides of the
// packing threshold and past 65,536 members (the unpacked big path).

import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRingHash, PACKED_MIN_POINTS, type RingHash } from "../../ring/ring-hash.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { referenceSlot } from "../support/ring-reference-slot.js";

const SEED = testSeed(15_0617);

/** The first member walking successors from h's slot that `accept` takes, or -1. */
function referencePick(ring: RingHash, h: number, accept: (m: number) => boolean): number {
  const owners = ring.owners;
  const start = referenceSlot(ring.points, h);
  for (let i = 0; i < owners.length; i++) {
    const m = owners[(start + i) % owners.length];
    if (accept(m)) return m;
  }
  return -1;
}

function indexLength(ring: RingHash): number {
  ring.lookup(0);
  return (ring as unknown as { cells: { index: Uint32Array } }).cells.index.length;
}

/** A ring of exactly `points` points: `points` members x 1, or fewer members x ppw. */
function ringOf(points: number, rnd: () => number): RingHash {
  const ppw = points % 160 === 0 && rnd() < 0.7 ? 160 : 1;
  const members = points / ppw;
  return buildRingHash(
    Array.from({ length: members }, (_, i) => ({ id: `m${i}-${Math.floor(rnd() * 1e6)}`, weight: 1 })),
    { pointsPerWeight: ppw },
  );
}

test(`lookups equal a whole-ring binary search at sizes 1..70,000 points (seed ${SEED})`, () => {
  const rnd = seededRandom(SEED);
  const sizes = [
    1,
    2,
    3,
    160,
    480,
    1000,
    4800,
    PACKED_MIN_POINTS - 1,
    PACKED_MIN_POINTS,
    32_768,
    65_536,
    70_000,
  ];
  for (let i = 0; i < 8; i++) sizes.push(1 + Math.floor(rnd() * 70_000));
  for (const size of sizes) {
    const ring = ringOf(size, rnd);
    assert.equal(ring.size, size);
    const points = ring.points;
    const owners = ring.owners;
    const why = `${size} points, ${ring.members.length} members (${seedNote(SEED)})`;
    const hashes = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
    for (let i = 0; i < Math.min(points.length, 3000); i++) {
      const p = points[Math.floor(rnd() * points.length)];
      hashes.push(p, (p - 1) >>> 0, (p + 1) >>> 0);
    }
    for (let i = 0; i < 5000; i++) hashes.push(Math.floor(rnd() * 2 ** 32) >>> 0);
    const odd = (m: number) => m % 2 === 1;
    for (let i = 0; i < hashes.length; i++) {
      const h = hashes[i];
      assert.equal(ring.lookup(h), owners[referenceSlot(points, h)], `lookup ${h}, ${why}`);
      if (i % 8 === 0) assert.equal(ring.pick(h, odd), referencePick(ring, h, odd), `pick ${h}, ${why}`);
    }
  }
});

test("a small ring's lookup arrays are sized to it, not to 2^16 buckets", () => {
  for (const [members, ppw] of [
    [1, 1],
    [3, 160],
    [12, 160],
  ] as const) {
    const ring = buildRingHash(
      Array.from({ length: members }, (_, i) => ({ id: `m${i}`, weight: 1 })),
      { pointsPerWeight: ppw },
    );
    const points = members * ppw;
    const buckets = indexLength(ring) - 1;
    assert.ok(
      buckets >= points && buckets <= 16 * Math.max(2, points),
      `${points} points: ${buckets} buckets`,
    );
    assert.equal(ring.lookupBytes, points * 8 + (buckets + 1) * 4, `${points} points: lookupBytes`);
  }
  // 3 members x 160: what a request's lookup reads is 20 KiB (was 258 KiB).
  assert.ok(
    buildRingHash([{ id: "a" }, { id: "b" }, { id: "c" }].map((m) => ({ ...m, weight: 1 }))).lookupBytes <=
      24 * 1024,
  );
  // From PACKED_MIN_POINTS on, the packed layout and its 2^16-bucket index, as before.
  const big = buildRingHash(
    Array.from({ length: PACKED_MIN_POINTS / 160 + 1 }, (_, i) => ({ id: `m${i}`, weight: 1 })),
  );
  assert.equal(indexLength(big), 65_537);
});
