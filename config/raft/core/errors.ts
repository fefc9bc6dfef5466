// Errors raised by the Raft core. One base class with a stable string `code` so that the
// driver and tests branch on the code, never on the message text.

export type RaftErrorCode =
  | "PROPOSAL_DROPPED"
  | "COMPACTED"
  | "UNAVAILABLE"
  | "SNAPSHOT_OUT_OF_DATE"
  | "SNAPSHOT_TEMPORARILY_UNAVAILABLE"
  | "CODEC"
  | "INVALID_CONFIG"
  | "USAGE"
  | "INVARIANT";

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** ProposalDropped reasons of the leader's bounds (callers map them to "overloaded, retry later"). */
export const UNCOMMITTED_FULL = "uncommitted log full";
export const READS_FULL = "too many pending reads";
/** ProposalDropped reason prefix: a learner cannot be promoted before it has caught up. */
export const LEARNER_BEHIND = "learner not caught up";
/** ProposalDropped reason of a leadership transfer to `id`, which this configuration does not make a voter. */
export function notAVoter(id: string, learner: boolean): string {
  return learner
    ? `${id} is a learner, not a voter (promote it first)`
    : `${id} is not a voter (not a member)`;
}

/** A proposal, conf change, read or transfer was not accepted; `reason` says why. Retry elsewhere/later. */
export class ProposalDropped extends RaftError {
  readonly reason: string;
  constructor(reason: string) {
    super("PROPOSAL_DROPPED", `proposal dropped: ${reason}`);
    this.reason = reason;
  }
}

/** The requested index is below the storage's first index (it was compacted into a snapshot). */
export class CompactedError extends RaftError {
  constructor(index: number, firstIndex: number) {
    super("COMPACTED", `index ${index} is compacted (first index is ${firstIndex})`);
  }
}

/** The requested index is beyond the storage's last index. */
export class UnavailableError extends RaftError {
  constructor(index: number, lastIndex: number) {
    super("UNAVAILABLE", `index ${index} is unavailable (last index is ${lastIndex})`);
  }
}

/** A snapshot older than the one already held was offered. */
export class SnapshotOutOfDateError extends RaftError {
  constructor(index: number, current: number) {
    super("SNAPSHOT_OUT_OF_DATE", `snapshot at ${index} is older than the current one at ${current}`);
  }
}

/** Storage cannot produce a snapshot right now; the leader retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super("SNAPSHOT_TEMPORARILY_UNAVAILABLE", "snapshot temporarily unavailable");
  }
}

/** Malformed or forged bytes given to a decoder. */
export class CodecError extends RaftError {
  constructor(message: string) {
    super("CODEC", `codec: ${message}`);
  }
}

export class RaftConfigError extends RaftError {
  constructor(field: string, message: string) {
    super("INVALID_CONFIG", `raft config: ${field}: ${message}`);
  }
}

/** The caller broke the API contract (e.g. ready() twice without advance()). */
export class RaftUsageError extends RaftError {
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** A Raft safety invariant would be violated; the node refuses to continue with this input. */
export class RaftInvariantError extends RaftError {
  constructor(message: string) {
    super("INVARIANT", message);
  }
}
