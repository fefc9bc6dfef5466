// Whether a pool's hash table can be built from its settings and members: the size limits
// ring/ enforces at build time, checked where a config file or a cluster command is
// validated, so such a pool is rejected with a clear error up front instead of failing
// when the proxy rebuilds its ring.

import { MAX_MAGLEV_TABLE_SIZE } from "../../ring/maglev.js";
import { MAX_RING_POINTS } from "../../ring/ring-hash.js";

export interface TableSettings {
  readonly algorithm: "ring" | "maglev";
  readonly pointsPerWeight: number;
  readonly tableSize: number;
}

export interface TableLimitError {
  /** The short problem, e.g. "maglev table too small". */
  readonly problem: string;
  /** `problem: expected ..., found ...`, for command rejections. */
  readonly message: string;
  readonly expected: string;
  readonly found: string;
}

/** Why `members` cannot be built into a table with `settings`, or undefined if they can. */
export function tableLimitError(
  settings: TableSettings,
  members: readonly { readonly weight: number }[],
): TableLimitError | undefined {
  if (settings.algorithm === "maglev") {
    if (members.length <= settings.tableSize) return undefined;
    const expected = `at most tableSize (${settings.tableSize}) members; raise tableSize to a prime >= ${members.length} (max ${MAX_MAGLEV_TABLE_SIZE})`;
    const found = `${members.length} members`;
    return limitError("maglev table too small", expected, found);
  }
  let points = 0;
  for (const m of members) points += m.weight * settings.pointsPerWeight;
  if (points <= MAX_RING_POINTS) return undefined;
  const expected = `sum(weight) x pointsPerWeight <= ${MAX_RING_POINTS}; lower the weights or pointsPerWeight`;
  const found = `${points} ring points`;
  return limitError("ring too large", expected, found);
}

function limitError(problem: string, expected: string, found: string): TableLimitError {
  return { problem, message: `${problem}: expected ${expected}, found ${found}`, expected, found };
}
