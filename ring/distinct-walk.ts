// The walk both hash tables (ring hash and Maglev) share: from a start slot, visit each distinct
// member once in table order. pick() uses it to skip members the caller rejects (open breaker,
// draining, unhealthy) without allocating; successors() lists the same order for explanations.

import type { AcceptMember } from "./types.js";
import type { VisitedSet } from "./visited.js";

/**
 * The first member accepted by `accept`, walking `table` (slot -> member index) from `start`,
 * each of the `memberCount` members tried once; -1 if none is accepted. `table` is non-empty.
 * A slot's member is `table[i] & mask`: -1 for a plain owners table, 0xffff for a packed
 * ring's entries (owner in the low 16 bits), so a packed ring keeps no owners array.
 */
export function pickDistinct(
  table: Uint16Array | Uint32Array,
  start: number,
  memberCount: number,
  visitedSet: VisitedSet,
  accept: AcceptMember,
  mask: number,
): number {
  const len = table.length;
  let i = start;
  const first = table[i] & mask;
  if (accept(first)) return first;
  if (memberCount === 1) return -1;
  const visited = visitedSet.begin();
  try {
    visited.mark(first);
    let seen = 1;
    for (let step = 1; step < len && seen < memberCount; step++) {
      if (++i === len) i = 0;
      const m = table[i] & mask;
      if (visited.marked(m)) continue;
      visited.mark(m);
      seen++;
      if (accept(m)) return m;
    }
    return -1;
  } finally {
    visitedSet.end(visited);
  }
}

/** Every distinct member of `table` once, in walk order from `start` (`mask` as pickDistinct's). */
export function* distinctMembers(
  table: Uint16Array | Uint32Array,
  start: number,
  memberCount: number,
  mask: number,
): IterableIterator<number> {
  // A generator may be suspended while another runs, so it keeps its own marker.
  const seenMember = new Uint8Array(memberCount);
  const len = table.length;
  let i = start;
  let seen = 0;
  for (let step = 0; step < len && seen < memberCount; step++, i = i + 1 === len ? 0 : i + 1) {
    const m = table[i] & mask;
    if (seenMember[m] === 1) continue;
    seenMember[m] = 1;
    seen++;
    yield m;
  }
}
