// What a one-member change allocates (issue 16: RSS over 50 reloads of a 5,000-member pool): a
// ring update writes into the arrays of the ring two updates back (ring/ring-cells.ts) and its
// temporaries are scratch kept between builds (ring/scratch.ts), so it allocates no ArrayBuffer
// in proportion to the pool; and a ring whose arrays were handed on still answers as a fresh
// build of its members when read later (it rebuilds them).
//
// The allocation figure is process.memoryUsage().arrayBuffers just before and just after each
// build: a GC inside a build can only lower it, so the median over many builds is what a build
// allocates (before: 3.6 MB per ring update and 226 KiB per Maglev build at 5,000 members).

import assert from "node:assert/strict";
import { test } from "node:test";
import { buildMaglev } from "../../ring/maglev.js";
import { buildRingHash, type RingHash } from "../../ring/ring-hash.js";
import type { RingMember } from "../../ring/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_2014);

function pool(n: number): RingMember[] {
  const out: RingMember[] = [];
  for (let i = 0; i < n; i++) out.push({ id: `member-${String(i).padStart(5, "0")}`, weight: 1 });
  return out;
}

/** The pool with one member (chosen by `rnd`) gone, or one new member joined: alternately. */
function oneChange(base: readonly RingMember[], rnd: () => number, step: number): RingMember[] {
  if (step % 2 === 0) {
    // One draw, then the filter: a draw per element would remove a random number of members.
    const gone = Math.floor(rnd() * base.length);
    return base.filter((_, i) => i !== gone);
  }
  return [...base, { id: `joiner-${step}-${Math.floor(rnd() * 1e6)}`, weight: 1 }];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function arrayBuffers(): number {
  return process.memoryUsage().arrayBuffers;
}

interface Cells {
  packed: Uint32Array | null;
  index: Uint32Array | null;
}

function cellsOf(ring: RingHash): Cells {
  return (ring as unknown as { cells: Cells }).cells;
}

function assertAnswersAsFresh(ring: RingHash, members: readonly RingMember[], why: string): void {
  const fresh = buildRingHash(members);
  assert.ok(Buffer.from(ring.points.buffer).equals(Buffer.from(fresh.points.buffer)), `${why}: points`);
  assert.ok(Buffer.from(ring.owners.buffer).equals(Buffer.from(fresh.owners.buffer)), `${why}: owners`);
  const rnd = seededRandom(SEED ^ 0x3c3c);
  for (let i = 0; i < 200; i++) {
    const h = Math.floor(rnd() * 2 ** 32);
    assert.equal(ring.lookup(h), fresh.lookup(h), `${why}: lookup ${h}`);
    const even = (m: number) => m % 2 === 0;
    assert.equal(ring.pick(h, even), fresh.pick(h, even), `${why}: pick ${h}`);
  }
  assert.deepEqual(ring.ownerCounts(), fresh.ownerCounts(), `${why}: ownerCounts`);
}

test("a one-member update of a 5,000-member ring allocates no ArrayBuffer in proportion to the pool", () => {
  const rnd = seededRandom(SEED);
  const base = pool(5000);
  let ring = buildRingHash(base);
  const allocated: number[] = [];
  for (let step = 0; step < 24; step++) {
    const members = step % 2 === 0 ? oneChange(base, rnd, step) : base;
    const before = arrayBuffers();
    ring = buildRingHash(members, {}, ring);
    allocated.push(arrayBuffers() - before);
  }
  // Warm from the third update on (the first two allocate the two sets of arrays that then
  // take turns). One set is 3.4 MB (800,000 packed entries and a 65,537-bucket index).
  const warm = median(allocated.slice(4));
  assert.ok(
    warm < 64 * 1024,
    `median ArrayBuffer bytes per one-member update ${warm} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
  );
});

test("a Maglev rebuild of a 5,000-member pool allocates its table and no per-member scratch", () => {
  const rnd = seededRandom(SEED ^ 0x11);
  const base = pool(5000);
  buildMaglev(base);
  const allocated: number[] = [];
  for (let step = 0; step < 24; step++) {
    const members = step % 2 === 0 ? oneChange(base, rnd, step) : base;
    const before = arrayBuffers();
    buildMaglev(members);
    allocated.push(arrayBuffers() - before);
  }
  // The table itself: 65,537 16-bit slots. Per-member walk state (offsets, skips, weights:
  // 80 KiB) and a visited marker per table (20 KiB) came on top of it before.
  const table = 65537 * 2;
  const warm = median(allocated.slice(2));
  assert.ok(
    warm <= table + 8 * 1024,
    `median ArrayBuffer bytes per build ${warm}, table ${table} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
  );
});

test("an update writes into the arrays of the ring two updates back, which still answers as a fresh build", () => {
  const rnd = seededRandom(SEED ^ 0x22);
  const base = pool(600);
  const lists: RingMember[][] = [base];
  for (let step = 0; step < 3; step++) lists.push(oneChange(lists[lists.length - 1], rnd, step));
  const r0 = buildRingHash(lists[0]);
  const r0Buffer = (cellsOf(r0).packed as Uint32Array).buffer;
  const r1 = buildRingHash(lists[1], {}, r0);
  const r1Buffer = (cellsOf(r1).packed as Uint32Array).buffer;
  const r2 = buildRingHash(lists[2], {}, r1);
  // A walk over r1 started before r3 takes r1's arrays, and finished after.
  const walk = r1.successors(0x9e3779b9);
  const firstFew = [walk.next().value, walk.next().value, walk.next().value];
  const r3 = buildRingHash(lists[3], {}, r2);
  assert.equal((cellsOf(r2).packed as Uint32Array).buffer, r0Buffer, "r2 writes into r0's arrays");
  assert.equal((cellsOf(r3).packed as Uint32Array).buffer, r1Buffer, "r3 writes into r1's arrays");
  assert.equal(cellsOf(r1).packed, null, "r1's arrays are taken");
  // Read after the hand-down: every ring (the ones whose arrays went on too) is its fresh build.
  for (const [i, ring] of [r0, r1, r2, r3].entries())
    assertAnswersAsFresh(ring, lists[i], `ring ${i} ${seedNote(SEED)}`);
  const rest = [...walk];
  assert.deepEqual(
    [...firstFew, ...rest],
    [...buildRingHash(lists[1]).successors(0x9e3779b9)],
    `a suspended walk over r1 ${seedNote(SEED)}`,
  );
  // r0 and r1 now read restored arrays of their own; r4 is r2's table again, so it shares
  // r2's arrays instead of taking them, and r0 to r2 stay right.
  const r4 = buildRingHash(lists[2], {}, r3);
  assert.equal(cellsOf(r4).packed, cellsOf(r2).packed, "r4 shares r2's arrays");
  assert.notEqual(cellsOf(r2).packed, null, "r2 keeps its arrays");
  assertAnswersAsFresh(r4, lists[2], `ring 4 ${seedNote(SEED)}`);
  for (const [i, ring] of [r0, r1, r2].entries())
    assertAnswersAsFresh(ring, lists[i], `ring ${i} again ${seedNote(SEED)}`);
});

test("two updates of one ring do not write into each other's arrays", () => {
  const rnd = seededRandom(SEED ^ 0x33);
  const a = pool(400);
  const b = oneChange(a, rnd, 0);
  const c = oneChange(a, rnd, 1);
  const d = oneChange(b, rnd, 2);
  const r0 = buildRingHash(a);
  const r1 = buildRingHash(b, {}, r0);
  // Two children of r1: the first takes r0's arrays, the second finds none to take.
  const left = buildRingHash(d, {}, r1);
  const right = buildRingHash(c, {}, r1);
  assert.notEqual(
    (cellsOf(left).packed as Uint32Array).buffer,
    (cellsOf(right).packed as Uint32Array).buffer,
  );
  assertAnswersAsFresh(left, d, `left ${seedNote(SEED)}`);
  assertAnswersAsFresh(right, c, `right ${seedNote(SEED)}`);
  assertAnswersAsFresh(r1, b, `r1 ${seedNote(SEED)}`);
  assertAnswersAsFresh(r0, a, `r0 ${seedNote(SEED)}`);
});
