// The arrays a packed ring's lookups read (its packed entries and bucket index), in a box the
// ring owns, and their hand-down: an update of ring v-1 into ring v writes into the arrays of
// ring v-2 (v-1's own predecessor) instead of allocating 3.4 MB (at 5,000 members) per reload.
// A ring's previous-but-one is what routing replaced two changes ago; it can still be held (a
// request that started on it and retries, an iterator left suspended), so taking its arrays
// empties its box, and a ring whose box is empty rebuilds its own arrays, exactly the table it
// had, the next time anything reads it (RingHash checks its box on every read). So a ring
// read after its arrays were handed on costs a fresh build once, and never answers wrong.
//
// The arrays never leave the ring: RingHash reads them only through its box, returns copies
// (points, owners), and passes them only to synchronous walks (pick).

import type { MergedPackedRing } from "./ring-update.js";

export interface RingCells {
  /** Packed entries (see packed-build.ts); null for a ring that does not pack, or once taken. */
  packed: Uint32Array | null;
  /** The bucket index; null once taken. */
  index: Uint32Array | null;
}

/** The box of the ring whose arrays the next update of a ring may take (the ring's predecessor's). */
export interface SpareCells {
  cells: RingCells | null;
}

/** Headroom of newly allocated packed arrays, so a later update with a few more points can reuse them. */
function capacity(total: number): number {
  return total + (total >>> 6) + 1024;
}

/**
 * Arrays for a packed update to `total` points: `spare`'s (emptying the box they were in)
 * when they are big enough and are not `reading`'s (the ring the update reads from), else new
 * ones with headroom. Either way `spare` is left empty: its arrays are taken at most once.
 */
export function takeCells(spare: SpareCells, reading: RingCells, total: number): MergedPackedRing {
  const donor = spare.cells;
  spare.cells = null;
  if (donor !== null && donor !== reading) {
    const { packed, index } = donor;
    if (
      packed !== null &&
      index !== null &&
      packed.buffer !== reading.packed?.buffer &&
      index !== reading.index &&
      packed.buffer.byteLength >= total * 4
    ) {
      donor.packed = null;
      donor.index = null;
      return { packed: new Uint32Array(packed.buffer, 0, total), index };
    }
  }
  return {
    packed: new Uint32Array(new ArrayBuffer(capacity(total) * 4), 0, total),
    index: new Uint32Array(65537),
  };
}
