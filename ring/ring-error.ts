// ring/'s coded errors. ring/ imports nothing of ours, so this is its own small base with the
// same shape as config's CodedError (a stable string `code`, the class name as `name`):
// config/coded-error.ts `codeOf` reads either, and callers branch on the code, never on the
// message.

/** Why a table cannot be built from its input. */
export const RING_CONFIG_ERROR_CODES = [
  /** `members` is not an array, or an entry lacks a non-empty id or an integer weight >= 1. */
  "RING_INVALID_MEMBER",
  /** Two members share an id. */
  "RING_DUPLICATE_MEMBER",
  /** More members than the table holds (ring hash's member cap, or more members than Maglev slots). */
  "RING_TOO_MANY_MEMBERS",
  /** Ring hash: sum(weight) * pointsPerWeight exceeds the point cap. */
  "RING_TOO_MANY_POINTS",
  /** Ring hash: pointsPerWeight is not an integer >= 1. */
  "RING_INVALID_POINTS_PER_WEIGHT",
  /** Maglev: tableSize is not a prime in range. */
  "RING_INVALID_TABLE_SIZE",
  /** The algorithm is neither "ring" nor "maglev". */
  "RING_UNKNOWN_ALGORITHM",
  /** An option of the other algorithm (tableSize for ring, pointsPerWeight for maglev). */
  "RING_OPTION_MISMATCH",
  /** Bounded load: balanceFactor is not a finite number >= 1, or the inner table is not a table. */
  "RING_INVALID_BOUNDED_LOAD",
] as const;

export type RingConfigErrorCode = (typeof RING_CONFIG_ERROR_CODES)[number];

/** The base of ring/'s errors: a stable `code` to branch on. */
export class RingError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Invalid table input (members, algorithm options, bounded load). */
export class RingConfigError extends RingError<RingConfigErrorCode> {}
