// Ring arrays reused from dead rings (ring/recycled-buffers.ts): a ring built into a reused
// array holding garbage equals a fresh build bit for bit (merged and fresh-build paths), and
// a ring's arrays come back for reuse only once nothing can read them: not while the ring, or
// a suspended successors() walk over it, is reachable.
//
// The collection tests need gc(): it is switched on for this test process only (V8's flag
// set at run time, the function taken from a fresh context). The product never forces a GC.

import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { capacityFor, RecycledBuffers, ringBuffers } from "../../ring/recycled-buffers.js";
import { buildRingHash, type RingHash } from "../../ring/ring-hash.js";
import type { RingMember } from "../../ring/types.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { bytesOf } from "./support.js";

const SEED = testSeed(16_0716);

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function members(ids: readonly number[], rnd: () => number): RingMember[] {
  return ids.map((i) => ({ id: `m${i}`, weight: 1 + Math.floor(rnd() * 3) }));
}

function indexOf(ring: RingHash): Uint32Array {
  return (ring as unknown as { index: Uint32Array }).index;
}

function packedOf(ring: RingHash): Uint32Array {
  return (ring as unknown as { packed: Uint32Array }).packed;
}

function assertSame(got: RingHash, want: RingHash, why: string): void {
  assert.ok(bytesOf(packedOf(got)).equals(bytesOf(packedOf(want))), `${why}: packed`);
  assert.ok(bytesOf(indexOf(got)).equals(bytesOf(indexOf(want))), `${why}: index`);
  assert.ok(bytesOf(got.points).equals(bytesOf(want.points)), `${why}: points`);
  assert.ok(bytesOf(got.owners).equals(bytesOf(want.owners)), `${why}: owners`);
  for (let h = 0; h < 2 ** 32; h += 0x01000193)
    assert.equal(got.lookup(h), want.lookup(h), `${why}: lookup ${h}`);
}

/** Hands ringBuffers arrays full of garbage, big enough for `points` entries and for an index. */
function dirtyArrays(points: number): void {
  for (const n of [points, points, 65537, 65537])
    ringBuffers.give(new Uint32Array(capacityFor(n)).fill(0xdeadbeef));
}

test("a ring built into reused arrays full of garbage equals a fresh build (merge and fresh paths, seeded)", () => {
  const rnd = seededRandom(SEED);
  for (let run = 0; run < 4; run++) {
    const n = 400 + Math.floor(rnd() * 800);
    const ids = Array.from({ length: n }, (_, i) => i);
    const before = members(ids, rnd);
    const why = `seed ${SEED} run ${run} (${n} members)`;
    let total = 0;
    for (const m of before) total += m.weight * 160;

    // Fresh build (packed build: >= 32,768 points) into garbage.
    dirtyArrays(total);
    const reused0 = ringBuffers.reused;
    const prev = buildRingHash(before);
    assert.ok(ringBuffers.reused > reused0, `${why}: the fresh build took reused arrays`);
    ringBuffers.drain(); // empty: the reference builds get new arrays
    assertSame(prev, buildRingHash(before), `${why}: fresh build`);

    // One member joins and one leaves: merged from prev into garbage.
    const after = [...before.slice(1), { id: `m${n + run}`, weight: 2 }];
    dirtyArrays(total + 320);
    const reused1 = ringBuffers.reused;
    const merged = buildRingHash(after, {}, prev);
    assert.ok(ringBuffers.reused > reused1, `${why}: the merge took reused arrays`);
    ringBuffers.drain();
    assertSame(merged, buildRingHash(after), `${why}: merged`);
  }
});

test("take gives views of exactly the asked length, and reuses only arrays that fit", () => {
  const pool = new RecycledBuffers(4, 60_000);
  const a = pool.take(1000);
  assert.equal(a.length, 1000);
  assert.ok(a.buffer.byteLength >= 4 * 1000);
  pool.give(a);
  assert.equal(pool.kept, 1);
  // Far too small for it: a new array, the kept one stays.
  const big = pool.take(100_000);
  assert.equal(big.length, 100_000);
  assert.equal(pool.reused, 0);
  assert.equal(pool.kept, 1);
  // Fits: the kept array's memory comes back as a view of the new length.
  const b = pool.take(1010);
  assert.equal(b.length, 1010);
  assert.equal(b.buffer, a.buffer);
  assert.equal(pool.reused, 1);
  assert.equal(pool.kept, 0);
  // Never more than maxFree kept.
  for (let i = 0; i < 10; i++) pool.give(new Uint32Array(10));
  assert.equal(pool.kept, 4);
});

/** Collects until `cond` holds (finalizers run as tasks after a GC); false after ~10 s. */
async function collectUntil(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !cond(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

function keptBuffers(): ArrayBufferLike[] {
  return ringBuffers.drain().map((a) => a.buffer);
}

test("a ring's arrays are reused only after the ring and every successors() walk over it are collected", async () => {
  const rnd = seededRandom(SEED + 1);
  const ids = Array.from({ length: 300 }, (_, i) => i);
  const ms = members(ids, rnd);
  ringBuffers.drain();

  // `held` stays referenced; `walked` is referenced only by a suspended successors() walk;
  // `dropped` by nothing: once its arrays come back, a collection has run, and the other two
  // rings' arrays must not be among the kept ones.
  const held = buildRingHash(ms);
  let walkedRing: RingHash | null = buildRingHash(ms);
  const walkedBuffers = [packedOf(walkedRing).buffer, indexOf(walkedRing).buffer];
  const want = [...walkedRing.successors(12345)];
  const walk = walkedRing.successors(12345);
  const first = walk.next().value;
  walkedRing = null;
  let dropped: RingHash | null = buildRingHash(ms);
  const droppedBuffers = [packedOf(dropped).buffer, indexOf(dropped).buffer];
  dropped = null;

  const heldBuffers = [packedOf(held).buffer, indexOf(held).buffer];
  const returned = new Set<ArrayBufferLike>();
  const came = await collectUntil(() => {
    for (const b of keptBuffers()) returned.add(b);
    return droppedBuffers.every((b) => returned.has(b));
  });
  assert.ok(came, "the unreferenced ring's arrays came back for reuse after a collection");
  for (const b of [...heldBuffers, ...walkedBuffers])
    assert.ok(!returned.has(b), "a reachable ring's arrays were offered for reuse");

  // The suspended walk still reads its ring's entries intact, though builds ran in between.
  dirtyArrays(held.size);
  buildRingHash(ms);
  const rest = [first, ...walk];
  assert.deepEqual(rest, want, "a suspended successors() walk reads its ring's own entries");
  assert.equal(held.lookup(777), buildRingHash(ms).lookup(777));
});
