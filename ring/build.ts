// One entry point for building a pool's table from its configuration, so config/ and
// proxy/ choose an algorithm by name without knowing each builder's options.

import { type BoundedLoad, withBoundedLoad } from "./bounded-load.js";
import { buildMaglev } from "./maglev.js";
import { RingConfigError } from "./members.js";
import { buildRingHash } from "./ring-hash.js";
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

/** Builds an immutable table for `spec`; throws RingConfigError on invalid input. */
export function buildTable(spec: TableSpec & { balanceFactor: number }): BoundedLoad;
export function buildTable(spec: TableSpec): HashTable;
export function buildTable(spec: TableSpec): HashTable {
  let table: HashTable;
  if (spec.algorithm === "ring") {
    if (spec.tableSize !== undefined)
      throw new RingConfigError("ring hash: tableSize applies to maglev only");
    table = buildRingHash(spec.members, { pointsPerWeight: spec.pointsPerWeight });
  } else if (spec.algorithm === "maglev") {
    if (spec.pointsPerWeight !== undefined)
      throw new RingConfigError("maglev: pointsPerWeight applies to ring only");
    table = buildMaglev(spec.members, { tableSize: spec.tableSize });
  } else {
    throw new RingConfigError(`algorithm must be "ring" or "maglev", got ${JSON.stringify(spec.algorithm)}`);
  }
  return spec.balanceFactor === undefined
    ? table
    : withBoundedLoad(table, { balanceFactor: spec.balanceFactor });
}
