// Ring updates (ring/ring-update.ts) against fresh builds: a ring built from a previous ring
// (joins, leaves, reweights merged in packed form) must equal buildRingHash of the same
// members bit for bit: sorted points, owners, the bucket index and every lookup. Seeded random
// change sequences chain update on update; tied points (two members hashing a point to the
// same value, ~3 per 1,000-member ring) are made to join and leave on purpose.

import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRingHash, type RingHash } from "../../ring/ring-hash.js";
import type { RingMember } from "../../ring/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_0614);

function indexOf(ring: RingHash): Uint32Array {
  // A lookup first: a ring whose arrays a later update took rebuilds them when read (ring-cells.ts).
  ring.lookup(0);
  return (ring as unknown as { cells: { index: Uint32Array } }).cells.index;
}

function assertSameRing(updated: RingHash, fresh: RingHash, why: string): void {
  assert.deepEqual(updated.members, fresh.members, `${why}: members`);
  assert.equal(updated.owners.length, fresh.owners.length, `${why}: point count`);
  assert.ok(Buffer.from(updated.points.buffer).equals(Buffer.from(fresh.points.buffer)), `${why}: points`);
  assert.ok(Buffer.from(updated.owners.buffer).equals(Buffer.from(fresh.owners.buffer)), `${why}: owners`);
  assert.ok(Buffer.from(indexOf(updated).buffer).equals(Buffer.from(indexOf(fresh).buffer)), `${why}: index`);
  const rnd = seededRandom(SEED ^ 0x5a5a);
  for (let i = 0; i < 256; i++) {
    const h = i < 4 ? [0, 1, 2 ** 32 - 1, 2 ** 31][i] : Math.floor(rnd() * 2 ** 32);
    assert.equal(updated.lookup(h), fresh.lookup(h), `${why}: lookup ${h}`);
    // pick and successors walk the packed entries (owner in the low 16 bits), not owners.
    const odd = (m: number) => m % 2 === 1;
    assert.equal(updated.pick(h, odd), fresh.pick(h, odd), `${why}: pick ${h}`);
    if (i < 16)
      assert.deepEqual([...updated.successors(h)], [...fresh.successors(h)], `${why}: successors ${h}`);
  }
  const counts = new Uint32Array(fresh.members.length);
  for (const o of fresh.owners) counts[o]++;
  assert.deepEqual(updated.ownerCounts(), counts, `${why}: ownerCounts`);
}

function ownersKept(ring: RingHash): Uint32Array | null {
  return (ring as unknown as { ownerStore: { owners: Uint32Array | null } }).ownerStore.owners;
}

function member(i: number, weight = 1): RingMember {
  return { id: `m${i}`, weight };
}

test("updated rings equal fresh builds over seeded random join/leave/reweight sequences", () => {
  const rnd = seededRandom(SEED);
  for (let run = 0; run < 12; run++) {
    const ppw = [1, 7, 40, 160][run % 4];
    const start = 1 + Math.floor(rnd() * (run < 6 ? 40 : 600));
    let members: RingMember[] = [];
    let next = 0;
    for (; next < start; next++) members.push(member(next, 1 + Math.floor(rnd() * 3)));
    let ring = buildRingHash(members, { pointsPerWeight: ppw });
    for (let step = 0; step < 20; step++) {
      const op = Math.floor(rnd() * 4);
      const why = `${seedNote(SEED)} run ${run} ppw ${ppw} step ${step} op ${op} (${members.length} members)`;
      if (op === 0 || members.length < 3) {
        // Joins, at random places of the id order (ids sort as strings: m12 < m2).
        const n = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < n; k++) members.push(member(next++, 1 + Math.floor(rnd() * 3)));
      } else if (op === 1) {
        members.splice(Math.floor(rnd() * members.length), 1);
      } else if (op === 2) {
        const i = Math.floor(rnd() * members.length);
        members[i] = { ...members[i], weight: members[i].weight === 1 ? 2 : 1 };
      } else {
        // A join and a leave in one change, listed in shuffled order (the table ignores order).
        members.splice(Math.floor(rnd() * members.length), 1);
        members.push(member(next++));
        members = members.sort(() => rnd() - 0.5);
      }
      const updated = buildRingHash(members, { pointsPerWeight: ppw }, ring);
      assertSameRing(updated, buildRingHash(members, { pointsPerWeight: ppw }), why);
      ring = updated;
    }
  }
});

test("members sharing a point hash keep the fresh build's order when they leave and rejoin", () => {
  const members: RingMember[] = [];
  for (let i = 0; i < 1500; i++) members.push(member(i));
  const ring = buildRingHash(members);
  const pts = ring.points;
  const tied: number[] = [];
  for (let i = 1; i < pts.length; i++) if (pts[i] === pts[i - 1]) tied.push(i);
  assert.ok(tied.length > 0, "a 1,500-member ring of 240,000 points has tied points (expected ~7)");
  for (const i of tied) {
    for (const owner of [ring.owners[i - 1], ring.owners[i]]) {
      const id = ring.members[owner].id;
      const without = members.filter((m) => m.id !== id);
      const left = buildRingHash(without, {}, ring);
      assertSameRing(left, buildRingHash(without), `tie at point ${i}: ${id} leaves`);
      const back = buildRingHash(members, {}, left);
      assertSameRing(back, ring, `tie at point ${i}: ${id} rejoins`);
      const heavier = members.map((m) => (m.id === id ? { ...m, weight: 2 } : m));
      assertSameRing(buildRingHash(heavier, {}, ring), buildRingHash(heavier), `tie at point ${i}: ${id} x2`);
    }
    // Both members of the tie leave, then join together: the tie is among the fresh points.
    const pair = new Set([ring.members[ring.owners[i - 1]].id, ring.members[ring.owners[i]].id]);
    const without = buildRingHash(
      members.filter((m) => !pair.has(m.id)),
      {},
      ring,
    );
    assertSameRing(buildRingHash(members, {}, without), ring, `tie at point ${i}: both rejoin`);
  }
  // Many joins at once (fresh points past the comparison sort's range: the radix sort's path).
  const more = [...members];
  for (let i = 0; i < 40; i++) more.push(member(10_000 + i));
  assertSameRing(buildRingHash(more, {}, ring), buildRingHash(more), "40 joins at once");
});

test("a packed ring updated from another keeps no owners array until one is asked for", () => {
  const members: RingMember[] = [];
  for (let i = 0; i < 300; i++) members.push({ id: `m${i}`, weight: 1 + (i % 3) });
  const base = buildRingHash(members);
  const next = buildRingHash([...members, { id: "joined", weight: 2 }], {}, base);
  // Lookups, picks and the per-member counts (metrics) leave it unbuilt: no 4-byte-per-point
  // array per reload (3.2 MB at 5,000 members, freed only by a mark-compact).
  next.lookup(12345);
  next.pick(12345, (m) => m > 3);
  next.ownerCounts();
  assert.equal(ownersKept(next), null);
  assert.equal(next.owners.length, next.size);
  assert.notEqual(ownersKept(next), null);
});

test("an updated ring reuses the previous ring's member objects for members that did not change", () => {
  const members: RingMember[] = [];
  for (let i = 0; i < 200; i++) members.push({ id: `m${String(i).padStart(3, "0")}`, weight: 1 + (i % 2) });
  const base = buildRingHash(members);
  // In id order (as the cluster state keeps them): one joins, one is reweighted.
  const next = [...members, { id: "m999", weight: 1 }].map((m) =>
    m.id === "m010" ? { id: m.id, weight: 5 } : m,
  );
  const updated = buildRingHash(next, {}, base);
  const byId = new Map(base.members.map((m) => [m.id, m]));
  for (const m of updated.members) {
    const old = byId.get(m.id);
    if (m.id === "m999" || m.id === "m010") assert.notEqual(m, old, `${m.id} changed: a fresh member`);
    else assert.equal(m, old, `${m.id} unchanged: the previous ring's object`);
  }
  assert.equal(updated.members.find((m) => m.id === "m010")?.weight, 5);
  // Input out of order is still sorted (and built as from scratch).
  const shuffled = [...next].reverse();
  const again = buildRingHash(shuffled, {}, base);
  assert.deepEqual(
    again.members.map((m) => m.id),
    [...next].map((m) => m.id).sort(),
  );
  assertSameRing(again, buildRingHash(next), "reversed input");
  assertSameRing(updated, buildRingHash(next), "in-order input");
});
