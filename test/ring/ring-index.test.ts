// The ring's prefix index (ring/ring-index.ts): its bucket count follows the point count, so a
// lookup searches a bucket of a few points at 10,000 members as at 100 (issue 16), and it stays
// exact: rings updated from other rings (ring-update.ts), across changes that move the point
// count over an index size boundary both ways, hold the fresh build's index bit for bit, and
// every lookup, pick (the distinct walk) and bounded-load pick through it equals the plain
// definition over the sorted points: a binary search of the whole ring, then the walk.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withBoundedLoad } from "../../ring/bounded-load.js";
import { buildRingHash, type RingHash } from "../../ring/ring-hash.js";
import type { RingMember } from "../../ring/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_1016);

function indexOf(ring: RingHash): Uint32Array {
  return (ring as unknown as { index: Uint32Array }).index;
}

function member(i: number, weight = 1): RingMember {
  return { id: `m${i}`, weight };
}

test("a bucket of the ring's index holds at most 4 points on average, from 100 to 10,000 members", () => {
  for (const [n, ppw] of [
    [100, 160],
    [1000, 160],
    [2000, 160],
    [10_000, 160],
    [10_000, 400],
  ] as const) {
    const ring = buildRingHash(
      Array.from({ length: n }, (_, i) => member(i)),
      { pointsPerWeight: ppw },
    );
    const index = indexOf(ring);
    const buckets = index.length - 1;
    assert.equal(index[buckets], ring.size, `${n} x ${ppw}: the index covers every point`);
    let largest = 0;
    for (let b = 0; b < buckets; b++) largest = Math.max(largest, index[b + 1] - index[b]);
    const mean = ring.size / buckets;
    // A fixed 2^16 buckets held 24 points a bucket at 10,000 members (largest 51): a binary
    // search of 5-6 dependent reads into 6.4 MB. Memory stays bounded: at most 2^20 buckets.
    assert.ok(mean <= 4, `${n} x ${ppw}: ${mean.toFixed(2)} points a bucket (${buckets} buckets)`);
    assert.ok(largest <= 24, `${n} x ${ppw}: largest bucket ${largest} points`);
    assert.ok(buckets <= 2 ** 20, `${n} x ${ppw}: ${buckets} buckets`);
  }
});

/** First point >= h by binary search over the whole ring, wrapping to 0: the definition. */
function referenceSlot(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/** The first member from slot `start` on, distinct in ring order, that `accept` takes; -1 if none. */
function referenceWalk(owners: Uint32Array, start: number, accept: (m: number) => boolean): number {
  for (let step = 0; step < owners.length; step++) {
    const m = owners[(start + step) % owners.length];
    if (accept(m)) return m;
  }
  return -1;
}

function assertLookupsByDefinition(ring: RingHash, rnd: () => number, why: string): void {
  const points = ring.points;
  const owners = ring.owners;
  const n = ring.members.length;
  const bounded = withBoundedLoad(ring, { balanceFactor: 1.25 });
  const loads = new Int32Array(n);
  let total = 0;
  for (let m = 0; m < n; m++) {
    loads[m] = Math.floor(rnd() * 4);
    total += loads[m];
  }
  const index = indexOf(ring);
  const shift = 32 - Math.round(Math.log2(index.length - 1));
  const hashes = [0, 1, 0xffff, 0x10000, 0xffffffff, points[0], (points[points.length - 1] + 1) >>> 0];
  for (let i = 0; i < 64; i++) {
    // Points themselves, their neighbours, and a bucket's first and last hash.
    const p = points[Math.floor(rnd() * points.length)];
    const b = p >>> shift;
    hashes.push(p, (p - 1) >>> 0, (p + 1) >>> 0, (b * 2 ** shift) >>> 0, ((b + 1) * 2 ** shift - 1) >>> 0);
  }
  for (let i = 0; i < 3000; i++) hashes.push(Math.floor(rnd() * 2 ** 32) >>> 0);
  for (let i = 0; i < hashes.length; i++) {
    const h = hashes[i];
    const slot = referenceSlot(points, h);
    assert.equal(ring.lookup(h), owners[slot], `${why}: lookup ${h}`);
    if (i % 8 !== 0) continue;
    // The distinct walk (pick) with a third of the members refused, and bounded load.
    const salt = Math.floor(rnd() * 3);
    const accept = (m: number): boolean => (m + salt) % 3 !== 0;
    assert.equal(ring.pick(h, accept), referenceWalk(owners, slot, accept), `${why}: pick ${h}`);
    const cap = (m: number): number => bounded.capOf(m, total);
    const under = referenceWalk(owners, slot, (m) => loads[m] < cap(m) && accept(m));
    const want = under !== -1 ? under : referenceWalk(owners, slot, accept);
    assert.equal(bounded.pickBounded(h, accept, loads, total), want, `${why}: pickBounded ${h}`);
  }
}

function assertSameIndex(updated: RingHash, fresh: RingHash, why: string): void {
  assert.equal(updated.size, fresh.size, `${why}: point count`);
  const a = indexOf(updated);
  const b = indexOf(fresh);
  assert.equal(a.length, b.length, `${why}: index size`);
  assert.ok(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    ),
    `${why}: index`,
  );
  assert.ok(Buffer.from(updated.points.buffer).equals(Buffer.from(fresh.points.buffer)), `${why}: points`);
  assert.ok(Buffer.from(updated.owners.buffer).equals(Buffer.from(fresh.owners.buffer)), `${why}: owners`);
}

// 2^18 points (16 -> 17 index bits) is 1,638.4 units of weight at 160 points a weight, 2^19
// (17 -> 18) twice that: each sequence starts just below a boundary and moves over it and back
// by joins, leaves and reweights of a few members (towards whichever side it is not on),
// chaining update on update.
for (const [boundary, start] of [
  [2 ** 18, 1630],
  [2 ** 19, 3270],
] as const) {
  test(`updated rings crossing ${boundary} points keep the fresh build's index, and lookups, picks and bounded load equal the definition (seeded)`, () => {
    const rnd = seededRandom(SEED + boundary);
    let members: RingMember[] = [];
    let next = 0;
    // Weight 1 and 2 members, `start` units of weight in all.
    for (let w = 0; w < start; next++) {
      const weight = w + 2 <= start && rnd() < 0.3 ? 2 : 1;
      members.push(member(next, weight));
      w += weight;
    }
    let ring = buildRingHash(members);
    const sizes = new Set<number>([indexOf(ring).length]);
    let crossings = 0;
    for (let step = 0; step < 14; step++) {
      const op = Math.floor(rnd() * 3);
      const why = `${seedNote(SEED)} sub-seed ${SEED + boundary} step ${step} op ${op} (${ring.size} points)`;
      // Towards the other side of the boundary: up while below it, down while above.
      const up = ring.size <= boundary;
      if (op === 0) {
        const k = 1 + Math.floor(rnd() * 3);
        for (let j = 0; j < k; j++) {
          if (up) members.push(member(next++, 1 + Math.floor(rnd() * 3)));
          else members.splice(Math.floor(rnd() * members.length), 1);
        }
      } else if (op === 1) {
        for (let j = 0; j < 4; j++) {
          const i = Math.floor(rnd() * members.length);
          members[i] = { ...members[i], weight: up ? members[i].weight + 1 : 1 };
        }
      } else {
        // A join and a leave in one change: the merge on both sides, little net movement.
        members.splice(Math.floor(rnd() * members.length), 1);
        members.push(member(next++, up ? 2 : 1));
      }
      members = members.sort(() => rnd() - 0.5);
      const updated = buildRingHash(members, {}, ring);
      const fresh = buildRingHash(members);
      assertSameIndex(updated, fresh, why);
      assertLookupsByDefinition(updated, rnd, why);
      if (indexOf(updated).length !== indexOf(ring).length) crossings++;
      sizes.add(indexOf(updated).length);
      ring = updated;
    }
    assert.ok(
      crossings >= 2,
      `the sequence crossed the ${boundary}-point boundary both ways (${crossings} crossings; ${seedNote(SEED)})`,
    );
    assert.ok(sizes.size >= 2, `two index sizes were updated from each other (${seedNote(SEED)})`);
  });
}
