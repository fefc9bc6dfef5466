// Ketama-style consistent-hash ring: every member owns `weight * pointsPerWeight` points on
// a 32-bit circle and a key belongs to the first point at or after its hash (wrapping).
//
// Point contract (cross-instance, like the key hash): member `id`'s points are
// hashKey(`${id}-${i}`, 0) for i in [0, weight * pointsPerWeight). Points that collide are
// ordered by member id, so the smaller id owns the shared point. Members are sorted by id
// before anything else, so the table never depends on the order members arrived in.

import { distinctMembers, pickDistinct } from "./distinct-walk.js";
import { buildFront, frontLength, frontOwner } from "./lookup-front.js";
import { canonicalMembers } from "./members.js";
import { buildPackedRing, MAX_PACKED_MEMBERS, unpackPoints } from "./packed-build.js";
import { PointHasher } from "./point-hash.js";
import { bucketIndex, type SortedPoints, sortPoints } from "./point-sort.js";
import { type RingCells, restoreCells, type SpareCells, sameTableCells, takeCells } from "./ring-cells.js";
import { RingConfigError } from "./ring-error.js";
import { updatedPackedRing, updatedPoints } from "./ring-update.js";
import type { AcceptMember, HashTable, RingMember } from "./types.js";
import { VisitedSet } from "./visited.js";

export const DEFAULT_POINTS_PER_WEIGHT = 160;

/**
 * From this many points a fresh build goes through buildPackedRing (fewer passes over big
 * arrays); below, its fixed walks over 2^16 buckets cost more than they save, and the general
 * sort is quicker (measured: 100 members x 160, 4 ms against 6 ms; 300, 9 against 8 ms).
 * Both give the same table, bit for bit (test/ring/point-hash.test.ts).
 */
const PACKED_BUILD_MIN_POINTS = 1 << 15;

/**
 * From this many points a ring packs (4 B per point plus the fixed 2^16-bucket index, 256 KiB);
 * below, its points and owners (8 B per point) and an index of indexBits(total) (32-64 B per
 * point): 80 KiB at most, at 2,047 points. (At 16,000 points, 100 members, unpacked lookups
 * read three arrays where packed ones read two, and measured slower in a tight loop.)
 */
export const PACKED_MIN_POINTS = 1 << 11;

/**
 * Index bits of a ring that does not pack: 8-16 buckets per point, at most 2^16 buckets. Mostly
 * empty buckets keep the search loop from running, a branch that is then well predicted: at
 * 2-4 buckets per point a 3-member ring's lookups in a tight loop took twice as long as packed.
 */
function indexBits(total: number): number {
  return Math.min(16, Math.ceil(Math.log2(Math.max(2, total))) + 3);
}

/**
 * Packed rings of this many points or more get a lookup front (lookup-front.ts) of 2-4 points
 * per 16-byte cell, 4-8 bytes per point beside the packed array's 4: 1 MiB at 1,000 members x
 * 160, where a lookup under cache pressure took 0.7-0.8x the time it took without one
 * (`npm run bench -- ring-pressure --sizes 3,1000,10000`). Smaller rings' arrays
 * stay cached (410 members x 160: 256 KiB of packed entries), and a front would be the bigger
 * array. At most 2^19 cells (8 MiB, reached at 10,000 members x 160): bigger rings crowd
 * their cells, and more of their lookups fall through to the packed search.
 */
const FRONT_MIN_POINTS = 1 << 16;
const FRONT_MAX_BITS = 19;

/** Cell bits of a front for a packed ring of `total` points, or 0 for none. */
function frontBits(total: number): number {
  if (total < FRONT_MIN_POINTS) return 0;
  return Math.min(FRONT_MAX_BITS, Math.max(16, Math.ceil(Math.log2(total / 4))));
}

/** Member indices must fit the owner arrays and stay far below any table's reach. */
const MAX_MEMBERS = 1 << 21;
/** Upper bound on sum(weight) * pointsPerWeight, to keep a build bounded in memory and time. */
export const MAX_RING_POINTS = 1 << 26;
const MAX_POINTS = MAX_RING_POINTS;

/** A ring's lookup front, or null (none, or taken by a later ring). */
interface FrontBox {
  front: Uint32Array | null;
}

export interface RingHashOptions {
  /** Points per unit of weight (default 160). */
  readonly pointsPerWeight?: number;
}

export class RingHash implements HashTable {
  readonly algorithm = "ring";
  readonly members: readonly RingMember[];
  readonly pointsPerWeight: number;
  /** Points on the ring (sum(weight) * pointsPerWeight). */
  readonly size: number;
  // cells.index, the lookup accelerator: bucket b = hash >>> shift covers points[index[b] ..
  // index[b+1]), so the binary search runs over a bucket of ~1-2 points instead of the whole
  // ring. cells.packed, for rings of at most 65,536 members: packed[i] = low 16 bits of
  // points[i] << 16 | owners[i], so a lookup reads the index and one array, not points and
  // owners: at 10,000 members (1.6 M points, 13 MB) each array read is a cache miss.
  // A packed ring's cells may be handed on to a later ring (ring-cells.ts): every read goes
  // through live(), which rebuilds them if so.
  private readonly cells: RingCells;
  private readonly shift: number;
  /** Whether this ring packs (its cells.packed is null only once handed on). */
  private readonly packs: boolean;
  /** The predecessor's cells, which the next update of this ring may write into. */
  private readonly spare: SpareCells;
  // Sorted point hashes: kept by rings that do not pack; a packed ring's are rebuilt from
  // packed and index on first use (ring updates, tests) and kept from then on (the ring is
  // frozen, its cache is this one mutable box). Lookups and pick never need them.
  private readonly pointStore: { points: Uint32Array | null };
  // owners[i] owns points[i]: kept by rings that do not pack. A packed entry's low 16 bits
  // are its owner, so a packed ring reads those (pick, successors, ownerCounts) and builds
  // this array only when asked (views, tests): a 3.2 MB array per reload at 5,000 members,
  // garbage that sat in RSS until a mark-compact.
  private readonly ownerStore: { owners: Uint32Array | null };
  private readonly visited: VisitedSet;
  // The lookup front of a big packed ring (lookup-front.ts), in a box: the ring after next
  // may take its array as the cells' arrays are taken (an update allocates no new one), and
  // a ring whose front was taken looks up through its cells as one without a front does.
  // A lookup the front answers reads nothing else.
  private readonly frontBox: FrontBox;
  private readonly frontShift: number;
  /** The predecessor's front box, which the next update of this ring may take the array of. */
  private readonly frontSpare: { box: FrontBox | null };

  /**
   * `previous`, when given, is a ring of (mostly) the same members: its points are reused for
   * the members that stay (see ring-update.ts); the table is the same as without it.
   */
  constructor(members: readonly RingMember[], options: RingHashOptions = {}, previous?: RingHash) {
    const ppw = options.pointsPerWeight ?? DEFAULT_POINTS_PER_WEIGHT;
    if (typeof ppw !== "number" || !Number.isSafeInteger(ppw) || ppw < 1) {
      throw new RingConfigError(
        "RING_INVALID_POINTS_PER_WEIGHT",
        `ring hash: pointsPerWeight must be an integer >= 1, got ${String(ppw)}`,
      );
    }
    const sorted = canonicalMembers(
      members,
      "ring hash",
      previous instanceof RingHash ? previous.members : [],
    );
    if (sorted.length > MAX_MEMBERS) {
      throw new RingConfigError(
        "RING_TOO_MANY_MEMBERS",
        `ring hash: at most ${MAX_MEMBERS} members, got ${sorted.length}`,
      );
    }
    let total = 0;
    // Indexed, not for-of: the constructor runs once per change and is rarely optimized, and an
    // unoptimized for-of allocated an iterator result per member (195 KiB per 5,000-member reload).
    for (let i = 0; i < sorted.length; i++) total += sorted[i].weight * ppw;
    if (total > MAX_POINTS) {
      throw new RingConfigError(
        "RING_TOO_MANY_POINTS",
        `ring hash: sum(weight) * pointsPerWeight = ${total} points exceeds the limit of ${MAX_POINTS}`,
      );
    }
    // A ring of PACKED_MIN_POINTS or more packs when owners fit 16 bits: 2^16 buckets, a 256 KiB
    // index that stays in a core's L2 (finer indexes at 10,000 members measured no faster). A
    // smaller ring keeps its sorted points and owners with an index of 8-16 buckets per point
    // (3 members x 160: 20 KiB in all, where the 256 KiB index cost a cache miss per request
    // once the request's own memory had pushed its line out). Beyond 65,536 members, 2^16 buckets.
    const packs = sorted.length <= MAX_PACKED_MEMBERS && total >= PACKED_MIN_POINTS;
    const bits = packs ? 16 : indexBits(total);
    const usable = previous instanceof RingHash && previous.pointsPerWeight === ppw ? previous : null;
    // Packed to packed: merged in packed form, no sorted points unpacked or kept (ring-update.ts),
    // into the arrays of the previous ring's predecessor when it had any (ring-cells.ts).
    const packedToPacked = usable !== null && packs && usable.packs;
    // The previous ring's predecessor's table when that is this ring's (a member left and came
    // back): shared, not rebuilt, so a request still holding that ring keeps its arrays.
    const shared = packedToPacked ? sameTableCells(usable.spare, sorted) : null;
    let merged = null;
    if (packedToPacked && shared === null) {
      const from = usable.live();
      const spare = usable.spare;
      merged = updatedPackedRing(
        { members: usable.members, packed: from.packed as Uint32Array, index: from.index as Uint32Array },
        sorted,
        ppw,
        total,
        (n) => takeCells(spare, from, n),
      );
    }
    const reused = usable !== null && !packedToPacked ? updatedPoints(usable, sorted, ppw, total) : null;
    if (shared !== null) {
      this.cells = shared;
      this.ownerStore = { owners: null };
      this.pointStore = { points: null };
    } else if (merged !== null || (reused === null && packs && total >= PACKED_BUILD_MIN_POINTS)) {
      const built = merged ?? buildPackedRing(sorted, ppw, total);
      this.cells = { packed: built.packed, index: built.index, members: sorted, heir: null };
      this.ownerStore = { owners: null };
      this.pointStore = { points: null };
    } else {
      const { points, owners } = reused ?? freshPoints(sorted, ppw, total);
      this.cells = {
        packed: packs ? packPoints(points, owners) : null,
        index: bucketIndex(points, bits),
        members: sorted,
        heir: null,
      };
      this.ownerStore = { owners: packs ? null : owners };
      this.pointStore = { points: packs ? null : points };
    }
    const fb = packs ? frontBits(total) : 0;
    this.frontBox = fb === 0 ? { front: null } : this.frontFor(fb, shared !== null, usable);
    this.frontShift = 32 - fb;
    this.frontSpare = { box: packedToPacked ? usable.frontBox : null };
    this.packs = packs;
    this.spare = { cells: packedToPacked ? usable.cells : null };
    this.size = total;
    this.shift = 32 - bits;
    this.members = sorted;
    this.pointsPerWeight = ppw;
    this.visited = new VisitedSet(sorted.length);
    Object.freeze(this);
  }

  /**
   * The front box of a ring with 2^bits cells (this.cells set). A ring with the very table of
   * its predecessor's predecessor (`sharedTable`) shares that ring's box while it holds its
   * front; an update takes that ring's array when it has the size wanted (the old ring then
   * looks up without a front); else the front is built in a new array.
   */
  private frontFor(bits: number, sharedTable: boolean, previous: RingHash | null): FrontBox {
    const donor = previous === null ? null : previous.frontSpare.box;
    if (donor !== null && previous !== null) previous.frontSpare.box = null;
    if (sharedTable && donor !== null && donor.front !== null && donor.front.length === frontLength(bits))
      return donor;
    let into: Uint32Array | undefined;
    if (donor !== null && donor.front !== null && donor.front.length === frontLength(bits)) {
      into = donor.front;
      donor.front = null;
    }
    // The cells were just built, merged or shared live: both arrays are there.
    const { packed, index } = this.cells;
    return { front: buildFront({ packed: packed as Uint32Array, index: index as Uint32Array }, bits, into) };
  }

  /**
   * This ring's cells, restored (the same table; ring-cells.ts) if a later ring took them.
   * Callers read the arrays right away, with nothing in between that could build a ring.
   */
  private live(): RingCells {
    const cells = this.cells;
    if (cells.index === null) restoreCells(cells, this.pointsPerWeight, this.size);
    return cells;
  }

  /** Sorted point hashes (ties: the smaller member index first); owners[i] owns points[i]. */
  get points(): Uint32Array {
    const store = this.pointStore;
    if (store.points === null) {
      const cells = this.live();
      store.points = unpackPoints(cells.packed as Uint32Array, cells.index as Uint32Array);
    }
    return store.points;
  }

  /** owners[i] is the member index owning points[i] (a packed ring builds it on first use). */
  get owners(): Uint32Array {
    const store = this.ownerStore;
    if (store.owners === null) {
      const packed = this.live().packed as Uint32Array;
      const owners = new Uint32Array(packed.length);
      for (let i = 0; i < packed.length; i++) owners[i] = packed[i] & 0xffff;
      store.owners = owners;
    }
    return store.owners;
  }

  /** Bytes of the arrays a lookup reads: packed entries (or points and owners) and the bucket index. */
  get lookupBytes(): number {
    // Sizes, not contents: a ring whose cells were handed on has the same sizes (65,537 buckets).
    const arrays = this.packs ? this.size * 4 : this.size * 8;
    const front = this.frontShift === 32 ? 0 : frontLength(32 - this.frontShift) * 4;
    return arrays + front + (this.packs ? 65537 : 2 ** (32 - this.shift) + 1) * 4;
  }

  /** How many points each member owns (by member index), without building `owners`. */
  ownerCounts(): Uint32Array {
    const counts = new Uint32Array(this.members.length);
    const packed = this.live().packed;
    const table = packed ?? (this.ownerStore.owners as Uint32Array);
    const mask = packed !== null ? 0xffff : -1;
    for (let i = 0; i < table.length; i++) counts[table[i] & mask]++;
    return counts;
  }

  /** Index into `points` of the first point >= hash, wrapping to 0 (`cells` live). */
  private slot(cells: RingCells, hash: number): number {
    const h = hash >>> 0;
    const b = h >>> this.shift;
    const index = cells.index as Uint32Array;
    let lo = index[b];
    let hi = index[b + 1];
    const packed = cells.packed;
    if (packed !== null) {
      // Every point of bucket b shares h's top 16 bits: compare the low 16 only.
      const low = h & 0xffff;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (packed[mid] >>> 16 < low) lo = mid + 1;
        else hi = mid;
      }
    } else {
      const points = this.pointStore.points as Uint32Array;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (points[mid] < h) lo = mid + 1;
        else hi = mid;
      }
    }
    return lo === this.size ? 0 : lo;
  }

  lookup(hash: number): number {
    if (this.size === 0) return -1;
    const front = this.frontBox.front;
    if (front !== null) {
      const owner = frontOwner(front, this.frontShift, hash);
      if (owner >= 0) return owner;
    }
    const cells = this.live();
    const packed = cells.packed;
    return packed !== null
      ? packed[this.slot(cells, hash)] & 0xffff
      : (this.ownerStore.owners as Uint32Array)[this.slot(cells, hash)];
  }

  pick(hash: number, accept: AcceptMember): number {
    const n = this.members.length;
    if (n === 0) return -1;
    const cells = this.live();
    const packed = cells.packed;
    // pickDistinct is synchronous: no ring is built while it walks `packed`.
    return packed !== null
      ? pickDistinct(packed, this.slot(cells, hash), n, this.visited, accept, 0xffff)
      : pickDistinct(
          this.ownerStore.owners as Uint32Array,
          this.slot(cells, hash),
          n,
          this.visited,
          accept,
          -1,
        );
  }

  successors(hash: number): IterableIterator<number> {
    const n = this.members.length;
    if (n === 0) return [].values();
    const cells = this.live();
    return cells.packed !== null
      ? this.packedSuccessors(this.slot(cells, hash), n)
      : distinctMembers(this.ownerStore.owners as Uint32Array, this.slot(cells, hash), n, -1);
  }

  /**
   * distinctMembers over the packed entries, read through live() at every step: a walk left
   * suspended while a later ring took this ring's cells goes on over the rebuilt (identical)
   * entries, never over the taker's.
   */
  private *packedSuccessors(start: number, n: number): IterableIterator<number> {
    const seenMember = new Uint8Array(n);
    const len = this.size;
    let i = start;
    let seen = 0;
    for (let step = 0; step < len && seen < n; step++, i = i + 1 === len ? 0 : i + 1) {
      const m = (this.live().packed as Uint32Array)[i] & 0xffff;
      if (seenMember[m] === 1) continue;
      seenMember[m] = 1;
      seen++;
      yield m;
    }
  }
}

function packPoints(points: Uint32Array, owners: Uint32Array): Uint32Array {
  const packed = new Uint32Array(points.length);
  for (let i = 0; i < points.length; i++) packed[i] = ((points[i] & 0xffff) << 16) | owners[i];
  return packed;
}

/** Points in member order, then a stable sort by hash: equal hashes stay in member (id) order. */
function freshPoints(sorted: readonly RingMember[], ppw: number, total: number): SortedPoints {
  const rawPoints = new Uint32Array(total);
  const rawOwners = new Uint32Array(total);
  const hasher = new PointHasher();
  let p = 0;
  for (let m = 0; m < sorted.length; m++) {
    const { id, weight } = sorted[m];
    const count = weight * ppw;
    hasher.member(id);
    for (let i = 0; i < count; i++) {
      rawPoints[p] = hasher.next();
      rawOwners[p++] = m;
    }
  }
  return sortPoints(rawPoints, rawOwners);
}

/** Builds an immutable ring-hash table; throws RingConfigError on invalid input. */
export function buildRingHash(
  members: readonly RingMember[],
  options: RingHashOptions = {},
  previous?: RingHash,
): RingHash {
  return new RingHash(members, options, previous);
}
