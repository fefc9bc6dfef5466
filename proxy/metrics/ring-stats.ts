// Size of a pool's hash table and the fewest / most entries any one member owns, as Envoy
// exports min/max hashes per host: a quick signal that weights or points-per-weight give a
// skewed ring. Computed once per snapshot build, never on the request path.

import { BoundedLoad } from "../../ring/bounded-load.js";
import { Maglev } from "../../ring/maglev.js";
import { RingHash } from "../../ring/ring-hash.js";
import type { HashTable } from "../../ring/types.js";

export interface TableStats {
  /** Ring points (ring hash) or lookup-table slots (Maglev). */
  size: number;
  minPerMember: number;
  maxPerMember: number;
}

function countOwners(owners: Uint16Array | Uint32Array, members: number): TableStats {
  const counts = new Uint32Array(members);
  for (let i = 0; i < owners.length; i++) counts[owners[i]]++;
  return spread(counts, owners.length);
}

function spread(counts: Uint32Array, size: number): TableStats {
  const members = counts.length;
  let min = members === 0 ? 0 : Number.POSITIVE_INFINITY;
  let max = 0;
  for (let m = 0; m < members; m++) {
    if (counts[m] < min) min = counts[m];
    if (counts[m] > max) max = counts[m];
  }
  return { size, minPerMember: min, maxPerMember: max };
}

/** Stats for any table shardgate builds; unknown table kinds report their member count only. */
export function tableStats(table: HashTable): TableStats {
  const inner = table instanceof BoundedLoad ? table.inner : table;
  // Counted from the ring's packed entries: its owners array is built only on demand.
  if (inner instanceof RingHash) return spread(inner.ownerCounts(), inner.size);
  if (inner instanceof Maglev) return countOwners(inner.table, inner.members.length);
  const n = inner.members.length;
  return { size: n, minPerMember: n === 0 ? 0 : 1, maxPerMember: n === 0 ? 0 : 1 };
}
