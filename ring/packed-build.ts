// A fresh ring build of at most 65,536 members, straight into the arrays lookups read: the
// packed array (low 16 bits of each sorted point << 16 | owner) and the bucket index over the
// top 16 bits. It is the same stable two-pass LSD radix sort as point-sort.ts, so the order
// (ties in member order) and the table are exactly those of sortPoints; what it saves is
// traffic, the cost at 10,000 members (1.6 million points, 6.4 MB per array):
// - both histograms are counted while the points are hashed, not in passes of their own;
// - each pass scatters one 32-bit word per point instead of a point and an owner: pass 1
//   carries (high 16 bits << 16 | owner), the owner being the member the hashing loop is on;
//   pass 2 reads pass 1's output bucket by bucket, so the low 16 bits are the bucket's
//   number, and writes the packed word itself;
// - pass 2's histogram is the lookup index.
// Two 6.4 MB arrays are allocated, not three: pass 2 writes packed over the hashed points
// (dead after pass 1) and the owners (for pick and successors) go over pass 1's output. The
// sorted points themselves are not kept: unpackPoints() rebuilds them from packed and the
// index for whoever needs them (ring updates, tests), so a ring holds 8 bytes a point.

import { PointHasher } from "./point-hash.js";
import type { RingMember } from "./types.js";

export interface PackedRing {
  /** owners[i] is the member index owning the i-th point in sorted order. */
  readonly owners: Uint32Array;
  /**
   * packed[i] = (points[i] & 0xffff) << 16 | owners[i], points sorted by hash (ties: smaller
   * member index first).
   */
  readonly packed: Uint32Array;
  /** Bucket b (a point's top 16 bits) holds packed[index[b] .. index[b + 1]); 65,537 entries. */
  readonly index: Uint32Array;
}

/** Largest member count this build packs (owner indices fit 16 bits). */
export const MAX_PACKED_MEMBERS = 0x10000;

/** `total` = sum(weight) * ppw points of `sorted` (canonical, at most 65,536 members). */
export function buildPackedRing(sorted: readonly RingMember[], ppw: number, total: number): PackedRing {
  if (sorted.length > MAX_PACKED_MEMBERS)
    throw new RangeError(`buildPackedRing: at most ${MAX_PACKED_MEMBERS} members, got ${sorted.length}`);
  // One small function per phase: each is optimized on its own feedback (one function holding
  // every loop was compiled at its first loop and deoptimized at each later one, 3x slower
  // at 100 members).
  const raw = new Uint32Array(total);
  // Counts at [bucket + 1], so the prefix sums leave each bucket's start at [bucket].
  const lowStart = new Uint32Array(65537);
  const index = new Uint32Array(65537);
  const counts = hashPoints(sorted, ppw, raw, lowStart, index);
  prefixSums(lowStart);
  prefixSums(index);
  const byLow = new Uint32Array(total);
  scatterByLow(raw, counts, lowStart, byLow);
  // Pass 2 writes packed over raw (dead after pass 1); owners go over byLow (dead after it).
  scatterByHigh(byLow, lowStart, index, raw);
  ownersOf(raw, byLow);
  return { owners: byLow, packed: raw, index };
}

/** Hashes every point in member order into `raw`, counting both 16-bit histograms; returns points per member. */
function hashPoints(
  sorted: readonly RingMember[],
  ppw: number,
  raw: Uint32Array,
  lowCounts: Uint32Array,
  highCounts: Uint32Array,
): Uint32Array {
  const counts = new Uint32Array(sorted.length);
  const hasher = new PointHasher();
  let p = 0;
  for (let m = 0; m < sorted.length; m++) {
    const count = sorted[m].weight * ppw;
    counts[m] = count;
    hasher.member(sorted[m].id);
    for (let i = 0; i < count; i++) {
      const h = hasher.next();
      raw[p++] = h;
      lowCounts[(h & 0xffff) + 1]++;
      highCounts[(h >>> 16) + 1]++;
    }
  }
  return counts;
}

function prefixSums(a: Uint32Array): void {
  for (let b = 1; b < a.length; b++) a[b] += a[b - 1];
}

/** Pass 1, by the low 16 bits, in member order (stable): each point's high 16 bits and owner. */
function scatterByLow(
  raw: Uint32Array,
  counts: Uint32Array,
  lowStart: Uint32Array,
  byLow: Uint32Array,
): void {
  const next = lowStart.slice(0, 65536);
  let p = 0;
  for (let m = 0; m < counts.length; m++) {
    const end = p + counts[m];
    for (; p < end; p++) {
      const h = raw[p];
      byLow[next[h & 0xffff]++] = (h & 0xffff0000) | m;
    }
  }
}

/** Pass 2, by the high 16 bits, reading pass 1's buckets in order (stable): packed entries. */
function scatterByHigh(
  byLow: Uint32Array,
  lowStart: Uint32Array,
  index: Uint32Array,
  packed: Uint32Array,
): void {
  const next = index.slice(0, 65536);
  let i = 0;
  for (let low = 0; low < 65536; low++) {
    const end = lowStart[low + 1];
    for (; i < end; i++) {
      const v = byLow[i];
      packed[next[v >>> 16]++] = (low << 16) | (v & 0xffff);
    }
  }
}

function ownersOf(packed: Uint32Array, owners: Uint32Array): void {
  for (let j = 0; j < packed.length; j++) owners[j] = packed[j] & 0xffff;
}

/** The sorted points of a packed ring: bucket number << 16 | each entry's low 16 bits. */
export function unpackPoints(packed: Uint32Array, index: Uint32Array): Uint32Array {
  const points = new Uint32Array(packed.length);
  let i = 0;
  for (let high = 0; high < 65536; high++) {
    const end = index[high + 1];
    const top = high << 16;
    for (; i < end; i++) points[i] = top | (packed[i] >>> 16);
  }
  return points;
}
