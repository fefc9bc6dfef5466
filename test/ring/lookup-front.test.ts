// The lookup front (ring/lookup-front.ts) against the plain search over the whole ring: on
// synthetic packed rings whose points are drawn to make the front's hard cases (cells with
// no point, one, four, many; equal points of different owners; points in the last cell, so
// lookups past them wrap), at every cell size it is built with, and on seeded random rings
// big enough that RingHash builds a front, through lookup().

import assert from "node:assert/strict";
import { test } from "node:test";
import { buildFront, frontOwner } from "../../ring/lookup-front.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { referenceSlot } from "../support/ring-reference-slot.js";

const SEED = testSeed(0xf207);

interface Synthetic {
  points: Uint32Array;
  owners: Uint32Array;
  packed: Uint32Array;
  index: Uint32Array;
}

/**
 * `count` sorted points from `rand`: half spread over the circle, the rest in clusters (runs
 * of near and equal points, so some cells are crowded and some points tie), a few in the last
 * cell; ties ordered by owner as the ring orders them.
 */
function synthetic(rand: () => number, count: number, members: number): Synthetic {
  const pairs: Array<[number, number]> = [];
  const owner = () => Math.floor(rand() * members);
  while (pairs.length < count >> 1) pairs.push([Math.floor(rand() * 2 ** 32), owner()]);
  while (pairs.length < count - 8) {
    const at = Math.floor(rand() * 2 ** 32);
    const run = 1 + Math.floor(rand() * 12);
    for (let i = 0; i < run && pairs.length < count - 8; i++)
      pairs.push([Math.min(0xffffffff, at + Math.floor(rand() * 40)), owner()]);
  }
  while (pairs.length < count) pairs.push([0xffffffff - Math.floor(rand() * 4096), owner()]);
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const points = Uint32Array.from(pairs, (p) => p[0]);
  const owners = Uint32Array.from(pairs, (p) => p[1]);
  const packed = Uint32Array.from(pairs, ([p, o]) => (((p & 0xffff) << 16) | o) >>> 0);
  const index = new Uint32Array(65537);
  for (const p of points) index[(p >>> 16) + 1]++;
  for (let b = 1; b < index.length; b++) index[b] += index[b - 1];
  return { points, owners, packed, index };
}

/** Hashes at and around every kind of edge: points, cell starts and ends, the circle's ends. */
function probeHashes(rand: () => number, points: Uint32Array, bits: number): number[] {
  const hashes = [0, 1, 0xffff, 0x10000, 0xfffffffe, 0xffffffff];
  const last = points[points.length - 1];
  hashes.push(last, last + 1 > 0xffffffff ? last : last + 1, points[0], (points[0] - 1) >>> 0);
  const cell = 2 ** (32 - bits);
  for (let i = 0; i < 2000; i++) {
    const p = points[Math.floor(rand() * points.length)];
    const start = Math.floor(p / cell) * cell;
    hashes.push(p, (p - 1) >>> 0, Math.min(0xffffffff, p + 1), start, Math.max(0, start - 1));
    hashes.push(Math.min(0xffffffff, start + cell - 1));
  }
  for (let i = 0; i < 20_000; i++) hashes.push(Math.floor(rand() * 2 ** 32));
  return hashes;
}

for (const bits of [16, 17, 19]) {
  test(`front with 2^${bits} cells: every answer it gives is the whole-ring search's (seed ${SEED})`, () => {
    const rand = seededRandom(SEED + bits);
    for (const count of [5, 70_000, 300_000]) {
      const r = synthetic(rand, count, 1000);
      const front = buildFront(r, bits);
      let answered = 0;
      const hashes = probeHashes(rand, r.points, bits);
      for (const h of hashes) {
        const got = frontOwner(front, 32 - bits, h);
        if (got < 0) continue;
        answered++;
        assert.equal(
          got,
          r.owners[referenceSlot(r.points, h)],
          `${count} points, 2^${bits} cells, hash ${h} (${seedNote(SEED)})`,
        );
      }
      // The front must answer most lookups, or it only adds a read (a front that always
      // declined would pass the check above).
      assert.ok(
        answered > hashes.length / 2,
        `${count} points, 2^${bits} cells: ${answered}/${hashes.length} answered`,
      );
    }
  });
}

test(`ring lookups through the front equal the whole-ring search on seeded random rings (seed ${SEED})`, () => {
  const rand = seededRandom(SEED);
  // 400 x 160 points is below the front's size; the others have one of 2^16 .. 2^19 cells.
  for (const [members, ppw] of [
    [400, 160],
    [500, 160],
    [1000, 160],
    [3000, 100],
    [10_000, 160],
  ] as const) {
    const ring = buildRingHash(
      Array.from({ length: members }, (_, i) => ({
        id: `n${Math.floor(rand() * 1e9)}-${i}`,
        weight: 1 + Math.floor(rand() * 3),
      })),
      { pointsPerWeight: ppw },
    );
    const { points, owners } = ring;
    for (const h of probeHashes(rand, points, 16)) {
      assert.equal(
        ring.lookup(h),
        owners[referenceSlot(points, h)],
        `${members} members x ${ppw}, hash ${h} (${seedNote(SEED)})`,
      );
    }
  }
});

test("buildFront refuses cell sizes it is not made for, and rings of fewer than four points", () => {
  const r = synthetic(seededRandom(SEED), 100, 3);
  assert.throws(() => buildFront(r, 15), /bits in 16\.\.20/);
  assert.throws(() => buildFront(r, 21), /bits in 16\.\.20/);
  assert.throws(() => buildFront(r, 16.5), /bits in 16\.\.20/);
  const tiny = synthetic(seededRandom(SEED), 3, 3);
  assert.throws(() => buildFront(tiny, 16), /at least 4 points/);
});

test(`a ring whose front a later update took answers as a fresh build (seed ${SEED})`, () => {
  const rand = seededRandom(SEED ^ 0x5a5a);
  const base = Array.from({ length: 1000 }, (_, i) => ({ id: `m${i}`, weight: 1 }));
  const without = (drop: number) => base.filter((_, i) => i !== drop);
  // Each update takes the front of the ring two updates back (its table differs here).
  const r0 = buildRingHash(base);
  const r1 = buildRingHash(without(3), {}, r0);
  const r2 = buildRingHash(without(500), {}, r1);
  const r3 = buildRingHash(without(900), {}, r2);
  const frontOf = (r: unknown) => (r as { frontBox: { front: Uint32Array | null } }).frontBox.front;
  assert.equal(frontOf(r0), null, "r2 took r0's front");
  assert.equal(frontOf(r1), null, "r3 took r1's front");
  assert.notEqual(frontOf(r3), null);
  for (const [ring, members] of [
    [r0, base],
    [r1, without(3)],
    [r2, without(500)],
    [r3, without(900)],
  ] as const) {
    const fresh = buildRingHash(members);
    for (let i = 0; i < 5000; i++) {
      const h = Math.floor(rand() * 2 ** 32);
      assert.equal(
        ring.lookup(h),
        fresh.lookup(h),
        `${members.length} members, hash ${h} (${seedNote(SEED)})`,
      );
    }
  }
});
