// Ring lookup against the reference definition (mutation audit, issue 10 item 7): the owner
// of hash h is the member of the first point >= h, else (past the last point) the member of
// the FIRST point. A lookup that wrapped to the last point instead passed every other test.

import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRingHash } from "../../ring/index.js";
import { seededRandom } from "../support/prng.js";

const SEED = 0x10c4;

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
    assert.equal(ring.lookup(h), referenceOwner(ring.points, ring.owners, h), `hash ${h} (seed ${SEED})`);
  }
  assert.ok(wrapped >= 2, "hashes past the last point were checked");
  assert.notEqual(
    ring.owners[0],
    ring.owners[ring.points.length - 1],
    "first and last points differ in owner",
  );
});
