// A ring hash's points after a few members joined, left or were reweighted, computed from the
// previous ring instead of from scratch: the points of members that stay are kept (their
// owner indices remapped to the new id order, which keeps them sorted), only the changed
// members' points are hashed and sorted, and the two sorted runs are merged. The result is
// exactly the fresh build's (points sorted by hash, ties by member index), so instances that
// updated and instances that built afresh agree; test/proxy/pool-snapshot-update.test.ts
// and test/ring/ring-update.test.ts compare the two over random change sequences.
//
// Rings of at most 65,536 members (every pool that packs) are merged in their packed form
// (updatedPackedRing): the previous ring's packed entries are read bucket by bucket, so a
// point's hash is its bucket number and its entry's high 16 bits, and the merge writes the
// new packed entries and bucket index directly (an entry's low 16 bits are its owner: no owners
// array). One pass over the points, written into the two arrays the caller gives (RingHash
// hands it the arrays of the ring two updates back: ring-cells.ts), the temporaries scratch
// (scratch.ts), where going through sorted points cost an
// unpack of the previous ring, a points and an owners array, and a pack and an index pass:
// at 5,000 members that was 16 MB of garbage per reload and most of its ring time.

import type { PackedRing } from "./packed-build.js";
import { PointHasher } from "./point-hash.js";
import { type SortedPoints, sortPoints } from "./point-sort.js";
import { float64Scratch, int32Scratch, uint32Scratch } from "./scratch.js";
import type { RingMember } from "./types.js";

export interface PreviousRing {
  readonly members: readonly RingMember[];
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
}

/** A previous ring in packed form (see packed-build.ts), members in the same (canonical) order. */
export interface PreviousPackedRing extends MergedPackedRing {
  readonly members: readonly RingMember[];
}

/**
 * A packed ring without an owners array: each entry's low 16 bits are its owner already, and
 * a separate owners array per reload was half the garbage a 5,000-member reload left behind
 * (3.2 MB of ArrayBuffer freed only by a mark-compact: RSS grew between them).
 */
export type MergedPackedRing = Omit<PackedRing, "owners">;

/** Above this share of changed members a fresh build is as cheap: give up (null). */
const MAX_CHANGED_SHARE = 1 / 8;

interface Changes {
  /** remap[i]: the new index of old member i, or -1 when its points go (left or reweighted). */
  readonly remap: Int32Array;
  /** New indices of the members whose points are hashed afresh (joined or reweighted). */
  readonly added: readonly number[];
}

const remapScratch = int32Scratch();

/**
 * What changed between two canonical (id-sorted) member lists; null when too much did. The
 * remap is scratch: valid until the next update.
 */
function changes(old: readonly RingMember[], sorted: readonly RingMember[]): Changes | null {
  const remap = remapScratch.take(old.length, false).fill(-1);
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
  return { remap, added };
}

/** Below this many fresh points, a comparison sort beats the radix sort's passes over 2^16 buckets. */
const SMALL_SORT = 4096;

const freshPointScratch = uint32Scratch();
const freshOwnerScratch = uint32Scratch();
const sortKeyScratch = float64Scratch();

/**
 * The points of the `added` members, sorted (ties in member order, as a fresh build). Below
 * SMALL_SORT points (one member's change) the arrays are scratch, valid until the next update.
 */
function freshPoints(sorted: readonly RingMember[], added: readonly number[], ppw: number): SortedPoints {
  let freshCount = 0;
  for (const k of added) freshCount += sorted[k].weight * ppw;
  const small = freshCount < SMALL_SORT;
  const points = small ? freshPointScratch.take(freshCount, false) : new Uint32Array(freshCount);
  const owners = small ? freshOwnerScratch.take(freshCount, false) : new Uint32Array(freshCount);
  const hasher = new PointHasher();
  let q = 0;
  for (const k of added) {
    hasher.member(sorted[k].id);
    const count = sorted[k].weight * ppw;
    for (let p = 0; p < count; p++) {
      points[q] = hasher.next();
      owners[q++] = k;
    }
  }
  if (!small) return sortPoints(points, owners);
  // One member's 160 points: hash * 2^21 + owner (owners < 2^21, so exact in a double)
  // sorted natively orders by hash, then member index, as the radix sort does.
  const keys = sortKeyScratch.take(freshCount, false);
  for (let i = 0; i < freshCount; i++) keys[i] = points[i] * 0x200000 + owners[i];
  keys.sort();
  for (let i = 0; i < freshCount; i++) {
    const owner = keys[i] % 0x200000;
    points[i] = (keys[i] - owner) / 0x200000;
    owners[i] = owner;
  }
  return { points, owners };
}

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
  // Read before any scratch is filled: a packed ring whose arrays were handed on restores
  // them inside these reads, with an update that uses the same scratch (ring-cells.ts).
  const ap = prev.points;
  const ao = prev.owners;
  const c = changes(prev.members, sorted);
  if (c === null) return null;
  const { remap } = c;
  const b = freshPoints(sorted, c.added, ppw);
  const freshCount = b.points.length;

  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
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

/** Where an update writes its result: `total` packed entries and a 65,537-entry index. */
export type PackedOutput = (total: number) => MergedPackedRing;

const freshArrays: PackedOutput = (total) => ({
  packed: new Uint32Array(total),
  index: new Uint32Array(65537),
});

/**
 * updatedPoints for packed rings (both at most 65,536 members): the new ring's packed
 * entries and bucket index, merged from `prev`'s packed entries and the changed
 * members' fresh points; null when too much changed or the counts disagree. `output` gives
 * the arrays to write (asked once the update goes ahead; new ones by default); they must not
 * be `prev`'s.
 */
export function updatedPackedRing(
  prev: PreviousPackedRing,
  sorted: readonly RingMember[],
  ppw: number,
  total: number,
  output: PackedOutput = freshArrays,
): MergedPackedRing | null {
  if (prev.index.length !== 65537 || sorted.length > 0x10000) return null;
  const c = changes(prev.members, sorted);
  if (c === null) return null;
  const fresh = freshPoints(sorted, c.added, ppw);
  const { packed, index } = output(total);
  if (packed.length !== total || index.length !== 65537) return null;
  const out = mergePacked(prev.packed, prev.index, c.remap, fresh.points, fresh.owners, packed);
  if (out !== total) return null;
  shiftedIndex(prev.index, prev.members, c.remap, ppw, fresh.points, index);
  return index[65536] === total ? { packed, index } : null;
}

/**
 * The merge of updatedPackedRing: runs of the previous ring's entries (owners remapped,
 * left members' entries dropped) copied between the fresh points, each fresh point placed
 * after the entries that sort before it (smaller low 16 bits in its bucket; on a tie, a
 * smaller member index). Returns the number of entries written; writes past the arrays' end
 * are dropped by the typed arrays, and the caller checks the count.
 *
 * The copy is its own small function: it is what runs hot, and split off it is optimized on
 * its own steady feedback. One function holding the whole merge was compiled (on-stack) before
 * its rarer branches had run and deoptimized at each, and a ring update at 5,000 members took
 * 70-120 ms for its first few runs in a process against 4 ms warm.
 */
function mergePacked(
  oldPacked: Uint32Array,
  oldIndex: Uint32Array,
  remap: Int32Array,
  freshPoints: Uint32Array,
  freshOwners: Uint32Array,
  packed: Uint32Array,
): number {
  let x = 0;
  let out = 0;
  for (let f = 0; f < freshPoints.length; f++) {
    const h = freshPoints[f];
    const bucket = h >>> 16;
    const stop = placeIn(
      oldPacked,
      Math.max(x, oldIndex[bucket]),
      oldIndex[bucket + 1],
      remap,
      h & 0xffff,
      freshOwners[f],
    );
    out = copyKept(oldPacked, x, stop, remap, packed, out);
    packed[out++] = ((h & 0xffff) << 16) | freshOwners[f];
    x = stop;
  }
  return copyKept(oldPacked, x, oldPacked.length, remap, packed, out);
}

/** The first entry in oldPacked[from, end) (one bucket) that sorts after (low, owner). */
function placeIn(
  oldPacked: Uint32Array,
  from: number,
  end: number,
  remap: Int32Array,
  low: number,
  owner: number,
): number {
  let x = from;
  for (; x < end; x++) {
    const v = oldPacked[x];
    const lx = v >>> 16;
    if (lx > low || (lx === low && remap[v & 0xffff] > owner)) break;
  }
  return x;
}

/** Copies oldPacked[from, to) with owners remapped, skipping dropped ones; the new `out`. */
function copyKept(
  oldPacked: Uint32Array,
  from: number,
  to: number,
  remap: Int32Array,
  packed: Uint32Array,
  out: number,
): number {
  let o = out;
  for (let x = from; x < to; x++) {
    const v = oldPacked[x];
    const r = remap[v & 0xffff];
    if (r < 0) continue;
    packed[o++] = (v & 0xffff0000) | r;
  }
  return o;
}

const deltaScratch = int32Scratch();

/**
 * The new bucket index (written to `index`): the old one shifted by the points that left (the dropped members'
 * points, hashed again: a few hundred) and the fresh points, bucket by bucket.
 */
function shiftedIndex(
  oldIndex: Uint32Array,
  oldMembers: readonly RingMember[],
  remap: Int32Array,
  ppw: number,
  fresh: Uint32Array,
  index: Uint32Array,
): void {
  const delta = deltaScratch.take(65537, true);
  for (let f = 0; f < fresh.length; f++) delta[(fresh[f] >>> 16) + 1]++;
  const hasher = new PointHasher();
  for (let i = 0; i < oldMembers.length; i++) {
    if (remap[i] >= 0) continue;
    hasher.member(oldMembers[i].id);
    const count = oldMembers[i].weight * ppw;
    for (let p = 0; p < count; p++) delta[(hasher.next() >>> 16) + 1]--;
  }
  let shift = 0;
  for (let b = 0; b <= 65536; b++) {
    shift += delta[b];
    index[b] = oldIndex[b] + shift;
  }
}
