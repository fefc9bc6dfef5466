// Errors the driver's promises reject with. Callers branch on `code`; `leader` (when known)
// tells a client where to retry.

export type DriverErrorCode =
  | "NOT_LEADER"
  | "NO_LEADER"
  | "DROPPED"
  | "LEADERSHIP_LOST"
  | "TIMEOUT"
  /**
   * A follower's proposal the transport could not put on an open connection to the leader (cut,
   * not yet connected, reconnecting): no byte of it went out, so nothing was proposed. Retry.
   */
  | "NOT_SENT"
  /** Too many proposals or reads waiting while nothing commits: refused at once, retry later. */
  | "OVERLOADED"
  /**
   * The command would take the state machine's encoded size past maxStateBytes (a snapshot
   * must fit one transport frame): refused before the log, the state unchanged.
   */
  | "STATE_TOO_LARGE"
  /** A learner's promotion was refused: it is not yet within a few entries of the leader. */
  | "NOT_CAUGHT_UP"
  | "STOPPED"
  | "BAD_ARGUMENT"
  /** The committed cluster level lacks what the proposal needs (finish the rolling upgrade). */
  | "LEVEL_TOO_LOW"
  /** A committed entry this build cannot decode (a later version's): the node stopped applying. */
  | "UPGRADE_REQUIRED"
  /** The data directory's Raft state belongs to another cluster than its identity says. */
  | "CLUSTER_MISMATCH"
  /** identity.json in the data directory does not read back (damage: it is replaced by rename). */
  | "IDENTITY_UNREADABLE"
  | "FATAL";

export class DriverError extends Error {
  readonly code: DriverErrorCode;
  readonly leader: string;
  constructor(code: DriverErrorCode, message: string, leader = "") {
    super(message);
    this.name = "DriverError";
    this.code = code;
    this.leader = leader;
  }
}
