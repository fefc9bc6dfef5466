// The lookup front of a big packed ring: the hash space cut into 2^bits cells (bits >= 16),
// and per cell 16 bytes holding the first four packed entries at or after the cell's start,
// so a lookup usually reads one cache line where the bucket index and then the packed
// entries cost two, each a miss once a large pool's arrays have left the caches (the request
// path's own memory pushes them out between two requests). Measured with
// `npm run bench -- ring-pressure --sizes 3,1000,10000 --keys 10000`.
//
// A packed entry is (low 16 bits of its point << 16 | owner). Every point of a cell shares
// the hash's top `bits` (>= 16) bits, so its low 16 bits order it against the hash as the whole
// point would. An entry past the cell (the cell holds fewer than four points) has its low 16
// bits set to 0xffff: every hash of the cell is at or before it, and it is the next point
// after the cell's, the owner of those hashes. A hash past the fourth point of a crowded cell
// gets -1 and the ring searches its packed entries as without a front; the answer is the
// same either way (test/ring/lookup-front.test.ts checks it against the plain search).

/** Bucket index (65,537 entries) and packed entries of the ring a front is built for. */
export interface FrontSource {
  readonly packed: Uint32Array;
  readonly index: Uint32Array;
}

/** Entries a cell keeps: 16 bytes, four cells to a cache line. */
const PER_CELL = 4;

/** Length of the front array of 2^bits cells. */
export function frontLength(bits: number): number {
  return PER_CELL * 2 ** bits;
}

/**
 * The front over `ring`'s packed entries with 2^bits cells (16 <= bits <= 20; at least four
 * points), written into `into` when given (an array of frontLength(bits) a dropped front left),
 * else into a new array. No other array is allocated: a ring update that reuses an old front
 * allocates nothing in proportion to the pool.
 */
export function buildFront(ring: FrontSource, bits: number, into?: Uint32Array): Uint32Array {
  const { packed, index } = ring;
  const size = packed.length;
  if (!Number.isInteger(bits) || bits < 16 || bits > 20 || size < PER_CELL)
    throw new RangeError(`buildFront: bits in 16..20 and at least ${PER_CELL} points, got ${bits}, ${size}`);
  const length = frontLength(bits);
  if (into !== undefined && into.length !== length)
    throw new RangeError(`buildFront: an array of ${length} entries to write into, got ${into.length}`);
  const front = into ?? new Uint32Array(length);
  // Cells within a 16-bit bucket: a point's cell there is its low 16 bits >>> shift.
  const perBucket = 2 ** (bits - 16);
  const shift = 32 - bits;
  let o = 0;
  for (let b = 0; b < 65536; b++) {
    let q = index[b];
    const end = index[b + 1];
    for (let j = 0; j < perBucket; j++) {
      while (q < end && (packed[q] >>> 16) >>> shift < j) q++;
      // Sorted: once an entry is past the cell (a later cell or bucket), so are the rest.
      for (let k = 0, p = q; k < PER_CELL; k++, p++) {
        // Past the last point the ring wraps to its first.
        const e = packed[p >= size ? p - size : p];
        front[o++] = p < end && (e >>> 16) >>> shift === j ? e : e | 0xffff0000;
      }
    }
  }
  return front;
}

/** The owner of `hash` by `front` (of 2^(32 - shift) cells), or -1: search the packed entries. */
export function frontOwner(front: Uint32Array, shift: number, hash: number): number {
  const o = (hash >>> shift) << 2;
  const low = hash & 0xffff;
  let e = front[o];
  if (low <= e >>> 16) return e & 0xffff;
  e = front[o + 1];
  if (low <= e >>> 16) return e & 0xffff;
  e = front[o + 2];
  if (low <= e >>> 16) return e & 0xffff;
  e = front[o + 3];
  if (low <= e >>> 16) return e & 0xffff;
  return -1;
}
