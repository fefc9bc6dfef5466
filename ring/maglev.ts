// Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016): a prime-sized lookup table filled by members taking turns along
// their own permutation, giving O(1) lookups and near-perfect balance.
//
// Table contract (cross-instance): members sorted by id; member `id` starts at
// offset = hashKey(id, OFFSET_SEED) % size and steps by skip = hashKey(id, SKIP_SEED) % (size - 1) + 1.
// Weights: each round every member (in id order) adds its weight to a credit and takes one
// turn per `maxWeight` of credit, so a member of weight w fills w/maxWeight as many slots per
// round as the heaviest (the weighted population of Envoy's Maglev, in integers).
// lookup(hash) = table[hash % size]. successors(hash) walks the table forward from that slot
// (wrapping) and yields each member the first time it appears.

import { distinctMembers, pickDistinct } from "./distinct-walk.js";
import { hashKey } from "./hash.js";
import { canonicalMembers } from "./members.js";
import { RingConfigError } from "./ring-error.js";
import { float64Scratch, int32Scratch } from "./scratch.js";
import type { AcceptMember, HashTable, RingMember } from "./types.js";
import { VisitedSet } from "./visited.js";

export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
export const MAGLEV_OFFSET_SEED = 0x6d61676c; // "magl"
export const MAGLEV_SKIP_SEED = 0x736b6970; // "skip"
/** Upper bound on the table size, to keep a build bounded in memory and time. */
export const MAX_MAGLEV_TABLE_SIZE = 5_000_011;

export interface MaglevOptions {
  /** A prime table size (default 65537); aim for well over 100 x the member count. */
  readonly tableSize?: number;
}

/** Deterministic trial division; table sizes are small enough that this is instant. */
export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export class Maglev implements HashTable {
  readonly algorithm = "maglev";
  readonly members: readonly RingMember[];
  readonly tableSize: number;
  /**
   * table[slot] is the member index owning that slot. 16-bit entries up to 65,535 members:
   * half the bytes a lookup's random read has to find in cache (a 1,000,003-slot table for
   * 10,000 members is 2 MB instead of 4 MB), for the same values.
   */
  readonly table: Uint16Array | Uint32Array;
  private readonly visited: VisitedSet;

  constructor(members: readonly RingMember[], options: MaglevOptions = {}) {
    const size = options.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 2 || size > MAX_MAGLEV_TABLE_SIZE) {
      throw new RingConfigError(
        "RING_INVALID_TABLE_SIZE",
        `maglev: tableSize must be a prime integer in [2, ${MAX_MAGLEV_TABLE_SIZE}], got ${String(size)}`,
      );
    }
    if (!isPrime(size)) {
      throw new RingConfigError(
        "RING_INVALID_TABLE_SIZE",
        `maglev: tableSize must be prime, got ${size} (e.g. 65537, 131071, 655373)`,
      );
    }
    const sorted = canonicalMembers(members, "maglev");
    const n = sorted.length;
    if (n > size) {
      throw new RingConfigError(
        "RING_TOO_MANY_MEMBERS",
        `maglev: ${n} members do not fit a table of ${size} slots; use a larger prime`,
      );
    }
    this.members = sorted;
    this.tableSize = size;
    this.table = n === 0 ? new Uint32Array(0) : fill(sorted, size);
    this.visited = new VisitedSet(n);
    Object.freeze(this);
  }

  /** hash mod tableSize, exactly. */
  private slot(hash: number): number {
    // A uint32 above 2^31 is a double in V8 and `%` on doubles calls fmod (slow); a
    // floored division is exact here: the quotient's rounding error is below 2^-21/size,
    // far less than the 1/size gap to the next integer.
    const h = hash >>> 0;
    const size = this.tableSize;
    return h - Math.floor(h / size) * size;
  }

  lookup(hash: number): number {
    const table = this.table;
    if (table.length === 0) return -1;
    return table[this.slot(hash)];
  }

  pick(hash: number, accept: AcceptMember): number {
    const n = this.members.length;
    if (n === 0) return -1;
    return pickDistinct(this.table, this.slot(hash), n, this.visited, accept, -1);
  }

  successors(hash: number): IterableIterator<number> {
    const n = this.members.length;
    if (n === 0) return [].values();
    return distinctMembers(this.table, this.slot(hash), n, -1);
  }
}

/** Member counts up to this fill a Uint16Array (0xffff is then free to mark empty slots). */
const MAX_NARROW_MEMBERS = 0xffff;

/**
 * The table: members take turns (by weight, see the contract above) claiming the next free
 * slot of their permutation until every slot is owned. Integer arithmetic throughout (slot
 * numbers fit 32 bits, so no doubles), and a plain round-robin when all weights are equal (the
 * credit rule gives exactly one turn per member per round then). Up to 65,535 members the
 * table is a Uint16Array with 0xffff as the empty marker (the fill's random probes touch half
 * the memory too); beyond, -1 in an Int32Array viewed as a Uint32Array. Equal, slot for slot,
 * to the straightforward fill (test/ring/maglev-fill.test.ts compares them over seeded
 * member sets).
 */
const nextScratch = int32Scratch();
const skipScratch = int32Scratch();
const weightScratch = float64Scratch();
const creditScratch = float64Scratch();

function fill(members: readonly RingMember[], size: number): Uint16Array | Uint32Array {
  const n = members.length;
  // Per-member walk state, scratch kept between builds (every entry is written below).
  const next = nextScratch.take(n, false); // current permutation position per member
  const skip = skipScratch.take(n, false);
  const weight = weightScratch.take(n, false);
  let maxWeight = 0;
  let equal = true;
  for (let m = 0; m < n; m++) {
    const { id, weight: w } = members[m];
    next[m] = hashKey(id, MAGLEV_OFFSET_SEED) % size;
    skip[m] = (hashKey(id, MAGLEV_SKIP_SEED) % (size - 1)) + 1;
    weight[m] = w;
    if (w > maxWeight) maxWeight = w;
    if (w !== members[0].weight) equal = false;
  }
  const narrow = n <= MAX_NARROW_MEMBERS;
  const empty = narrow ? 0xffff : -1;
  const table = narrow ? new Uint16Array(size).fill(empty) : new Int32Array(size).fill(empty);
  // One turn of member m: its next free slot. skip < size and size is prime, so the walk
  // visits every slot: this terminates while any slot is free.
  const turn = (m: number): void => {
    let c = next[m];
    const step = skip[m];
    while (table[c] !== empty) {
      c += step;
      if (c >= size) c -= size;
    }
    table[c] = m;
    c += step;
    if (c >= size) c -= size;
    next[m] = c;
  };
  let filled = 0;
  if (equal) {
    while (filled < size) {
      for (let m = 0; m < n && filled < size; m++) {
        turn(m);
        filled++;
      }
    }
  } else {
    const credit = creditScratch.take(n, true);
    while (filled < size) {
      for (let m = 0; m < n && filled < size; m++) {
        credit[m] += weight[m];
        while (credit[m] >= maxWeight && filled < size) {
          credit[m] -= maxWeight;
          turn(m);
          filled++;
        }
      }
    }
  }
  return table instanceof Uint16Array ? table : new Uint32Array(table.buffer);
}

/** Builds an immutable Maglev table; throws RingConfigError on invalid input. */
export function buildMaglev(members: readonly RingMember[], options: MaglevOptions = {}): Maglev {
  return new Maglev(members, options);
}
