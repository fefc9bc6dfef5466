// Ring lookup against the reference definition (mutation audit, issue 10 item 7): the owner
// of hash h is the member of the first point >= h, else (past the last point) the member of
// the FIRST point. A lookup that wrapped to the last point instead passed every other test.

import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRingHash } from "../../ring/index.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { referenceSlot } from "../support/ring-reference-slot.js";

const SEED = testSeed(0x10c4);

function referenceOwner(points: Uint32Array, owners: Uint32Array, h: number): number {
  for (let i = 0; i < points.length; i++) if (points[i] >= h) return owners[i];
  return owners[0];
}

test(`ring lookup equals "first point >= h, else the first point" (seed ${SEED})`, () => {
  const ring = buildRingHash(
    ["a", "b", "c", "d", "e"].map((id, i) => ({ id, weight: 1 + (i % 3) })),
    { pointsPerWeight: 7 },
  );
  const rand = seededRandom(SEED);
  const last = ring.points[ring.points.length - 1];
  // The wrap region (past the last point) must be hit: it decides the bug this test is for.
  const hashes = [0, 1, ring.points[0], ring.points[0] + 1, last, last + 1, 0xffffffff];
  for (let i = 0; i < 20_000; i++) hashes.push(Math.floor(rand() * 2 ** 32) >>> 0);
  let wrapped = 0;
  for (const h of hashes) {
    if (h > last) wrapped++;
    assert.equal(
      ring.lookup(h),
      referenceOwner(ring.points, ring.owners, h),
      `hash ${h} (${seedNote(SEED)})`,
    );
  }
  assert.ok(wrapped >= 2, "hashes past the last point were checked");
  assert.notEqual(
    ring.owners[0],
    ring.owners[ring.points.length - 1],
    "first and last points differ in owner",
  );
});

// Rings of up to 65,536 members look up through a packed (low 16 bits << 16 | owner) array;
// bigger ones through points and owners. Both must give the definition's owner, and pick()
// with accept-all must start at the same owner.
for (const [members, ppw] of [
  [3, 160],
  [1000, 160],
  [65_536, 1],
  [65_537, 1],
] as const) {
  test(`ring lookup equals the whole-ring binary search at ${members} members x ${ppw} (seed ${SEED})`, () => {
    const ring = buildRingHash(
      Array.from({ length: members }, (_, i) => ({ id: `m${i}`, weight: 1 + (i % 2) })),
      { pointsPerWeight: ppw },
    );
    const rand = seededRandom(SEED + members);
    const hashes = [
      0,
      1,
      0xffff,
      0x10000,
      ring.points[0],
      ring.points[ring.points.length - 1] + 1,
      0xffffffff,
    ];
    for (let i = 0; i < 20; i++) {
      const p = ring.points[Math.floor(rand() * ring.points.length)];
      hashes.push(p, (p - 1) >>> 0, (p + 1) >>> 0);
    }
    for (let i = 0; i < 20_000; i++) hashes.push(Math.floor(rand() * 2 ** 32) >>> 0);
    for (const h of hashes) {
      const want = ring.owners[referenceSlot(ring.points, h)];
      assert.equal(ring.lookup(h), want, `hash ${h} (${seedNote(SEED)}, sub-seed ${SEED + members})`);
      assert.equal(
        ring.pick(h, () => true),
        want,
        `pick, hash ${h} (${seedNote(SEED)}, sub-seed ${SEED + members})`,
      );
    }
  });
}
