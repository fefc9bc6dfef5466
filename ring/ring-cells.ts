// The arrays a packed ring's lookups read (its packed entries and bucket index), in a box the
// ring owns, and their hand-down: an update of ring v-1 into ring v writes into the arrays of
// ring v-2 (v-1's own predecessor) instead of allocating 3.4 MB (at 5,000 members) per reload.
// A ring's previous-but-one is what routing replaced two changes ago; it can still be held (a
// request that started on it and retries, an iterator left suspended), so:
// - when ring v would be the very table of ring v-2 (the same members and weights: a member
//   that left and came back), v shares v-2's box instead of taking it: nothing is written,
//   and v-2 keeps answering from arrays it never lost;
// - otherwise taking v-2's arrays empties its box and links it to its heir, the box of v-1
//   (the ring built from v-2, live at that moment). A read of v-2 later restores its table by
//   an update from the nearest live box along those links (ring-update.ts: a few ms at 5,000
//   members, where a fresh build stalled the request ~40 ms), and only when the update
//   declines (too many changes between them) by a fresh build. Either way the table is the
//   fresh build's, bit for bit (test/ring/ring-cells-held.test.ts).
// The links cost nothing unless an old ring is held: they keep the emptied boxes (and their
// members arrays) of later rings alive only as long as that ring is.
//
// The arrays never leave the ring: RingHash reads them only through its box, returns copies
// (points, owners), and passes them only to synchronous walks (pick).

import { buildPackedRing } from "./packed-build.js";
import { type MergedPackedRing, updatedPackedRing } from "./ring-update.js";
import type { RingMember } from "./types.js";

export interface RingCells {
  /** Packed entries (see packed-build.ts); null for a ring that does not pack, or once taken. */
  packed: Uint32Array | null;
  /** The bucket index; null once taken. */
  index: Uint32Array | null;
  /** The members (id order) whose table this box holds; every ring sharing the box has these. */
  readonly members: readonly RingMember[];
  /** Once taken: the box of the ring built from this box's ring, to restore the table from. */
  heir: RingCells | null;
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
 * Arrays for a packed update to `total` points: `spare`'s (emptying the box they were in and
 * linking it to `reading`, the box the update reads from) when they are big enough and are
 * not `reading`'s, else new ones with headroom. Either way `spare` is left empty: its arrays
 * are taken at most once.
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
      donor.heir = reading;
      return { packed: new Uint32Array(packed.buffer, 0, total), index };
    }
  }
  return {
    packed: new Uint32Array(new ArrayBuffer(capacity(total) * 4), 0, total),
    index: new Uint32Array(65537),
  };
}

/**
 * `spare`'s box, when it is live and holds the table of exactly `sorted` (same ids and
 * weights, in order; the caller guarantees the same points per weight): the new ring shares
 * it, and it is no longer anyone's spare. Else null (and `spare` untouched).
 */
export function sameTableCells(spare: SpareCells, sorted: readonly RingMember[]): RingCells | null {
  const box = spare.cells;
  if (box === null || box.index === null || box.members.length !== sorted.length) return null;
  const members = box.members;
  for (let i = 0; i < sorted.length; i++) {
    const a = members[i];
    const b = sorted[i];
    if (a !== b && (a.id !== b.id || a.weight !== b.weight)) return null;
  }
  spare.cells = null;
  return box;
}

/** Bounds the walk along heir links (they cannot loop: a taken box is never a spare again). */
const MAX_HEIR_STEPS = 1024;

const restores = { fromHeir: 0, fresh: 0 };

/** How many reads found their ring's arrays taken, and how each was restored (tests, benches). */
export function cellRestores(): { readonly fromHeir: number; readonly fresh: number } {
  return { fromHeir: restores.fromHeir, fresh: restores.fresh };
}

/** Refills an emptied box with its own table (`ppw` points per weight, `total` points). */
export function restoreCells(cells: RingCells, ppw: number, total: number): void {
  let heir = cells.heir;
  for (let steps = 0; heir !== null && heir.index === null && steps < MAX_HEIR_STEPS; steps++) {
    heir = heir.heir;
  }
  cells.heir = null;
  const merged =
    heir !== null && heir.packed !== null && heir.index !== null
      ? updatedPackedRing(
          { members: heir.members, packed: heir.packed, index: heir.index },
          cells.members,
          ppw,
          total,
        )
      : null;
  if (merged !== null) restores.fromHeir++;
  else restores.fresh++;
  const built = merged ?? buildPackedRing(cells.members, ppw, total);
  cells.packed = built.packed;
  cells.index = built.index;
}
