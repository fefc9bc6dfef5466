// One entry point for building a pool's table from its configuration, so config/ and
// proxy/ choose an algorithm by name without knowing each builder's options.

import { type BoundedLoad, withBoundedLoad } from "./bounded-load.js";
import { buildMaglev } from "./maglev.js";
import { RingConfigError } from "./ring-error.js";
import { buildRingHash, type RingHash } from "./ring-hash.js";
import type { HashTable, RingMember } from "./types.js";

export type RingAlgorithm = "ring" | "maglev";

export interface TableSpec {
  readonly algorithm: RingAlgorithm;
  readonly members: readonly RingMember[];
  /** Ring hash only (default 160). */
  readonly pointsPerWeight?: number;
  /** Maglev only; a prime (default 65537). */
  readonly tableSize?: number;
  /** When set (>= 1.0), the table is wrapped in bounded load. */
  readonly balanceFactor?: number;
}

/**
 * The algorithm dispatch itself: the unwrapped table for `spec` (options of the other
 * algorithm are ignored). `previousRing`: a ring of mostly the same members whose points a
 * ring build may reuse. Pool snapshots call this and wrap bounded load themselves.
 */
export function buildBaseTable(spec: TableSpec, previousRing?: RingHash): HashTable {
  if (spec.algorithm === "ring")
    return buildRingHash(spec.members, { pointsPerWeight: spec.pointsPerWeight }, previousRing);
  if (spec.algorithm === "maglev") return buildMaglev(spec.members, { tableSize: spec.tableSize });
  throw new RingConfigError(
    "RING_UNKNOWN_ALGORITHM",
    `algorithm must be "ring" or "maglev", got ${JSON.stringify(spec.algorithm)}`,
  );
}

/** Builds an immutable table for `spec`; throws RingConfigError on invalid input. */
export function buildTable(spec: TableSpec & { balanceFactor: number }): BoundedLoad;
export function buildTable(spec: TableSpec): HashTable;
export function buildTable(spec: TableSpec): HashTable {
  if (spec.algorithm === "ring" && spec.tableSize !== undefined)
    throw new RingConfigError("RING_OPTION_MISMATCH", "ring hash: tableSize applies to maglev only");
  if (spec.algorithm === "maglev" && spec.pointsPerWeight !== undefined)
    throw new RingConfigError("RING_OPTION_MISMATCH", "maglev: pointsPerWeight applies to ring only");
  const table = buildBaseTable(spec);
  return spec.balanceFactor === undefined
    ? table
    : withBoundedLoad(table, { balanceFactor: spec.balanceFactor });
}
