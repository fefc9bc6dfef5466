// The ring's prefix index: bucket b (a point's top `bits` bits) holds the sorted entries
// index[b] .. index[b + 1], so a lookup reads two adjacent index words and searches one
// bucket. Its size follows the ring's point count, so a bucket holds about 1.5-3 points at
// every size: a fixed 2^16 buckets left ~24 points a bucket at 10,000 members (1.6 million
// points), a binary search of five dependent, mispredicted reads into a 6.4 MB array where a
// 100-member ring's search is one read from cache. Memory is bounded: at most 2^20 buckets
// (4 MiB), about 1-2 bytes a point below that.
//
// Packed rings (ring-hash.ts) keep only each point's low 16 bits in its entry and compare
// those within a bucket, so their buckets are never coarser than 16 bits; the bits above
// come from the bucket number. Every index here is a pure function of the sorted points and
// the point count, so a ring updated from another one and a fresh build hold the same index.

/** Finest index: 2^20 buckets (4 MiB), reached at about 4 million points. */
export const MAX_INDEX_BITS = 20;
/** Packed entries hold 16 bits of the point: buckets must fix at least the other 16. */
export const PACKED_INDEX_BITS = 16;

/** Bucket bits for a ring of `points` points: about 2-4 points a bucket (log2(points) - 2). */
export function indexBits(points: number, packed: boolean): number {
  const fine = Math.ceil(Math.log2(Math.max(2, points))) - 2;
  return Math.min(MAX_INDEX_BITS, Math.max(packed ? PACKED_INDEX_BITS : 1, fine));
}

/** The bits of an index of `index.length` = 2^bits + 1 entries. */
export function bitsOf(index: Uint32Array): number {
  return Math.round(Math.log2(index.length - 1));
}

/**
 * The index of packed entries at `toBits` (16..20), from their index at another number of
 * bits (16..20). Coarser: every 2^d-th boundary. Finer: one pass over the entries, whose
 * finer bucket bits are the top bits of their stored low 16. `index` itself when equal.
 */
export function rebucketPacked(packed: Uint32Array, index: Uint32Array, toBits: number): Uint32Array {
  const fromBits = bitsOf(index);
  if (fromBits === toBits) return index;
  const out = new Uint32Array(2 ** toBits + 1);
  if (toBits < fromBits) {
    const step = 2 ** (fromBits - toBits);
    for (let b = 0; b < out.length; b++) out[b] = index[b * step];
    return out;
  }
  refinePacked(packed, index, fromBits, toBits, out);
  return out;
}

/** Counts each entry into its `toBits` bucket (its `fromBits` bucket, then its low bits), then prefix sums. */
function refinePacked(
  packed: Uint32Array,
  index: Uint32Array,
  fromBits: number,
  toBits: number,
  out: Uint32Array,
): void {
  const extra = toBits - fromBits;
  // The extra bucket bits are point bits 32-toBits .. 31-fromBits, all among the low 16 that
  // an entry stores in its bits 16..31 (point bit j at entry bit j + 16).
  const lowShift = 32 - toBits + 16;
  const mask = 2 ** extra - 1;
  const buckets = 2 ** fromBits;
  let i = 0;
  for (let b = 0; b < buckets; b++) {
    const end = index[b + 1];
    const base = b * 2 ** extra + 1;
    for (; i < end; i++) out[base + ((packed[i] >>> lowShift) & mask)]++;
  }
  for (let b = 1; b < out.length; b++) out[b] += out[b - 1];
}
