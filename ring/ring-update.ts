// A ring hash's points after a few members joined, left or were reweighted, computed from the
// previous ring instead of from scratch: the points of members that stay are kept (their
// owner indices remapped to the new id order, which keeps them sorted), only the changed
// members' points are hashed and sorted, and the two sorted runs are merged. The result is
// exactly the fresh build's (points sorted by hash, ties by member index), so instances that
// updated and instances that built afresh agree; test/proxy/pool-snapshot-update.test.ts
// compares the two over random change sequences.

import { PointHasher } from "./point-hash.js";
import { type SortedPoints, sortPoints } from "./point-sort.js";
import type { RingMember } from "./types.js";

export interface PreviousRing {
  readonly members: readonly RingMember[];
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
}

/** Above this share of changed members a fresh build is as cheap: give up (null). */
const MAX_CHANGED_SHARE = 1 / 8;

/**
 * The sorted points of `sorted` (canonical members) with `ppw` points per weight, reusing
 * `prev`; null when too much changed to be worth it. `total` is the expected point count.
 */
export function updatedPoints(
  prev: PreviousRing,
  sorted: readonly RingMember[],
  ppw: number,
  total: number,
): SortedPoints | null {
  const old = prev.members;
  const remap = new Int32Array(old.length).fill(-1);
  const added: number[] = [];
  let i = 0;
  let j = 0;
  let removed = 0;
  while (i < old.length || j < sorted.length) {
    if (j >= sorted.length || (i < old.length && old[i].id < sorted[j].id)) {
      i++;
      removed++;
    } else if (i >= old.length || sorted[j].id < old[i].id) {
      added.push(j++);
    } else {
      if (old[i].weight === sorted[j].weight) remap[i] = j;
      else {
        added.push(j);
        removed++;
      }
      i++;
      j++;
    }
  }
  if (added.length + removed > Math.max(1, sorted.length * MAX_CHANGED_SHARE)) return null;

  let freshCount = 0;
  for (const k of added) freshCount += sorted[k].weight * ppw;
  const newPoints = new Uint32Array(freshCount);
  const newOwners = new Uint32Array(freshCount);
  const hasher = new PointHasher();
  let q = 0;
  for (const k of added) {
    hasher.member(sorted[k].id);
    const count = sorted[k].weight * ppw;
    for (let p = 0; p < count; p++) {
      newPoints[q] = hasher.next();
      newOwners[q++] = k;
    }
  }
  const b = sortPoints(newPoints, newOwners);

  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  const ap = prev.points;
  const ao = prev.owners;
  let a = 0;
  let bi = 0;
  let out = 0;
  // Skip to the next kept point of the previous ring.
  const nextKept = (from: number): number => {
    let x = from;
    while (x < ap.length && remap[ao[x]] < 0) x++;
    return x;
  };
  a = nextKept(0);
  while (a < ap.length || bi < freshCount) {
    let takeA: boolean;
    if (a >= ap.length) takeA = false;
    else if (bi >= freshCount) takeA = true;
    else {
      const ha = ap[a];
      const hb = b.points[bi];
      takeA = ha < hb || (ha === hb && remap[ao[a]] < b.owners[bi]);
    }
    if (out >= total) return null; // counts disagree: not the ring we think it is
    if (takeA) {
      points[out] = ap[a];
      owners[out++] = remap[ao[a]];
      a = nextKept(a + 1);
    } else {
      points[out] = b.points[bi];
      owners[out++] = b.owners[bi++];
    }
  }
  return out === total ? { points, owners } : null;
}
