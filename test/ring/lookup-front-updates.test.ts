// Lookups through the front (ring/lookup-front.ts) of rings built by incremental updates,
// against the plain search over a fresh build's points: seeded random sequences of joins,
// leaves, reweights and flaps back to the table two updates back (which shares that ring's
// front), on rings whose size crosses the front's threshold of 65,536 points in both
// directions. Every ring of a sequence stays held, as a request or a retry holding an old
// snapshot would, and all of them are checked after every update: a front taken by a later
// ring, or shared with one, must never answer for a table it was not built from.

import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRingHash, type RingHash } from "../../ring/ring-hash.js";
import type { RingMember } from "../../ring/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { referenceSlot } from "../support/ring-reference-slot.js";

const SEED = testSeed(0xf40e);

/** Hashes at the edges a front cares about: points, cell starts and ends at 2^16..2^19 cells, the circle's ends. */
function edgeHashes(rand: () => number, points: Uint32Array, count: number): number[] {
  const hashes = [0, 1, 0xffff, 0x10000, 0xfffffffe, 0xffffffff];
  if (points.length > 0) {
    const last = points[points.length - 1];
    hashes.push(points[0], (points[0] - 1) >>> 0, last, Math.min(0xffffffff, last + 1));
  }
  for (let i = 0; i < count; i++) {
    if (points.length > 0) {
      const p = points[Math.floor(rand() * points.length)];
      hashes.push(p, (p - 1) >>> 0, Math.min(0xffffffff, p + 1));
      for (const bits of [16, 17, 18, 19]) {
        const cell = 2 ** (32 - bits);
        const start = Math.floor(p / cell) * cell;
        hashes.push(start, Math.max(0, start - 1), Math.min(0xffffffff, start + cell - 1));
      }
    }
    hashes.push(Math.floor(rand() * 2 ** 32));
  }
  return hashes;
}

/** Every held ring answers every probe as a fresh build of its members does. */
function checkHeld(
  rand: () => number,
  held: ReadonlyArray<{ ring: RingHash; members: readonly RingMember[] }>,
  where: string,
): void {
  for (let k = 0; k < held.length; k++) {
    const { ring, members } = held[k];
    const fresh = buildRingHash(members, { pointsPerWeight: ring.pointsPerWeight });
    const { points, owners } = fresh;
    for (const h of edgeHashes(rand, points, 150)) {
      const want = points.length === 0 ? -1 : owners[referenceSlot(points, h)];
      if (ring.lookup(h) !== want)
        assert.fail(
          `${where}: ring #${k} (${members.length} members), hash ${h}: ${ring.lookup(h)}, want ${want}`,
        );
    }
  }
}

/** One random change to `members`: a join (ids j0, j1, ...), a leave or a reweight; never below one member. */
function change(rand: () => number, members: readonly RingMember[], next: { id: number }): RingMember[] {
  const out = [...members];
  const r = rand();
  if (r < 0.35 || out.length < 2) {
    out.push({ id: `j${next.id++}`, weight: 1 + Math.floor(rand() * 3) });
  } else if (r < 0.7) {
    out.splice(Math.floor(rand() * out.length), 1);
  } else {
    const i = Math.floor(rand() * out.length);
    out[i] = { id: out[i].id, weight: 1 + Math.floor(rand() * 3) };
  }
  return out;
}

// Sizes in points (members x weight x pointsPerWeight) just below, at and just above 65,536.
const START: ReadonlyArray<{ members: number; weight: number; ppw: number }> = [
  { members: 4095, weight: 1, ppw: 16 },
  { members: 4096, weight: 1, ppw: 16 },
  { members: 409, weight: 1, ppw: 160 },
  { members: 410, weight: 1, ppw: 160 },
  { members: 1000, weight: 1, ppw: 160 },
];

for (const start of START) {
  const label = `${start.members} x ${start.weight} x ${start.ppw}`;
  test(`held rings of updates from ${label} points answer as fresh builds (seed ${SEED})`, () => {
    const rand = seededRandom(SEED ^ (start.members * 31 + start.ppw));
    const base = Array.from({ length: start.members }, (_, i) => ({ id: `m${i}`, weight: start.weight }));
    const next = { id: 0 };
    let members: RingMember[] = base;
    let ring = buildRingHash(members, { pointsPerWeight: start.ppw });
    const held = [{ ring, members }];
    for (let step = 0; step < 12; step++) {
      // A third of the steps go back to the members of two updates back (a flap: that ring's
      // table, shared with it); the rest are random changes.
      const back = held.length >= 2 && rand() < 0.34 ? held[held.length - 2].members : null;
      members = back !== null ? [...back] : change(rand, members, next);
      ring = buildRingHash(members, { pointsPerWeight: start.ppw }, ring);
      held.push({ ring, members });
      checkHeld(rand, held, `${label}, step ${step}${back !== null ? " (flap)" : ""} (${seedNote(SEED)})`);
    }
  });
}

test(`one-member and empty rings, with and without a front, answer as the plain search (seed ${SEED})`, () => {
  const rand = seededRandom(SEED ^ 0x1);
  assert.equal(buildRingHash([]).lookup(12345), -1);
  // One member: 160 points (no front), exactly 65,536 and 80,000 (a front, every cell one owner).
  for (const [weight, ppw] of [
    [1, 160],
    [4096, 16],
    [500, 160],
  ] as const) {
    const members = [{ id: "only", weight }];
    const ring = buildRingHash(members, { pointsPerWeight: ppw });
    checkHeld(rand, [{ ring, members }], `one member x ${weight * ppw} points (${seedNote(SEED)})`);
  }
  // Shrinking to one member and growing back through updates.
  const two = [
    { id: "a", weight: 300 },
    { id: "b", weight: 300 },
  ];
  const r0 = buildRingHash(two);
  const r1 = buildRingHash([two[0]], {}, r0);
  const r2 = buildRingHash(two, {}, r1);
  const r3 = buildRingHash([two[1]], {}, r2);
  checkHeld(
    rand,
    [
      { ring: r0, members: two },
      { ring: r1, members: [two[0]] },
      { ring: r2, members: two },
      { ring: r3, members: [two[1]] },
    ],
    `two members and one (${seedNote(SEED)})`,
  );
});

test("ties: at every point two members share in a 10,000-member ring, held rings answer the smaller member", () => {
  // 1.6 million 32-bit points hold a few hundred shared values (the birthday bound), each owned
  // by the member first in id order; the random probes above rarely land on one.
  const base = Array.from({ length: 10_000 }, (_, i) => ({ id: `shard-${i}.cache:6379`, weight: 1 }));
  const m1 = base.filter((_, i) => i !== 17);
  const m2 = m1.filter((_, i) => i !== 4321);
  const r0 = buildRingHash(base);
  const r1 = buildRingHash(m1, {}, r0);
  const r2 = buildRingHash(m2, {}, r1);
  for (const [ring, members] of [
    [r0, base],
    [r1, m1],
    [r2, m2],
  ] as const) {
    const { points, owners } = buildRingHash(members);
    const ties: number[] = [];
    for (let i = 1; i < points.length; i++) if (points[i] === points[i - 1]) ties.push(points[i]);
    assert.ok(ties.length > 50, `${ties.length} shared points among ${points.length}`);
    for (const t of ties) {
      for (const h of [t, (t - 1) >>> 0, Math.min(0xffffffff, t + 1)]) {
        const want = owners[referenceSlot(points, h)];
        assert.equal(ring.lookup(h), want, `${members.length} members, hash ${h} (a shared point ${t})`);
      }
    }
  }
});
