// Error values the app hands back: a config failure found after the schema (TLS files,
// cluster settings, an unbuildable pool), and a failed cluster proposal as an admin error.
// The HTTP status of a failed proposal comes from one table keyed by the error's stable code
// (config/coded-error.ts); no message text is ever matched.

import { codeOf, errorText } from "../../config/coded-error.js";
import type { ConfigError } from "../../config/file/config-error.js";
import type { AdminError } from "../admin/types.js";

export { errorText };

/** One config error at `path` (something the schema cannot see), with its one-line text. */
export function configError(path: string, message: string): ConfigError {
  return { path, expected: "a valid setting", found: message, message };
}

interface ProposalFailure {
  readonly status: number;
  /** The admin API's `error` code. */
  readonly error: string;
  readonly retryAfterS?: number;
  /** Prefix for the message, when the code alone does not say what to do. */
  readonly prefix?: string;
  /** The whole answer's message and detail, when the error's own text is not the message. */
  readonly explain?: (err: unknown) => { message: string; detail: unknown };
}

const REFUSED = (error: string, status = 400): ProposalFailure => ({ status, error });

const RAFT_STOPPED: ProposalFailure = {
  status: 503,
  error: "raft_stopped",
  retryAfterS: 1,
  prefix:
    "this instance's Raft node has stopped (see its log: a storage failure such as a full or read-only disk needs a restart of this instance): ",
};

/**
 * Code -> admin answer. State codes (config/coded-error.ts) pass through unchanged; the breaker
 * controller's HEALTH_* codes and the Raft driver's codes map to the admin vocabulary.
 */
const PROPOSAL_FAILURES: Readonly<Record<string, ProposalFailure>> = Object.freeze({
  unknown_pool: REFUSED("unknown_pool", 404),
  unknown_member: REFUSED("unknown_member", 404),
  no_discovery: REFUSED("no_discovery"),
  member_source_conflict: REFUSED("member_source_conflict"),
  table_limit: REFUSED("table_limit"),
  invalid_settings: REFUSED("invalid_settings"),
  invalid_command: REFUSED("invalid_command"),
  stale_index: REFUSED("rejected"),
  routing_changed: REFUSED("routing_changed", 409),
  internal: REFUSED("rejected"),
  HEALTH_UNKNOWN_POOL: REFUSED("unknown_pool", 404),
  HEALTH_UNKNOWN_MEMBER: REFUSED("unknown_member", 404),
  HEALTH_BREAKER_DISABLED: REFUSED("breaker_disabled", 409),
  HEALTH_INVALID_CONTROLLER_OPTIONS: REFUSED("bad_request"),
  // A command the fleet's committed cluster level lacks (an instance still runs an older version).
  LEVEL_TOO_LOW: {
    status: 409,
    error: "cluster_level_too_low",
    prefix: "not every instance runs a version that understands this change yet: ",
  },
  // This instance met a committed entry of a later version and stopped applying.
  UPGRADE_REQUIRED: {
    status: 503,
    error: "upgrade_required",
    retryAfterS: 30,
    prefix: "this instance runs an older version than the fleet's log needs; upgrade it: ",
  },
  // The change would take the cluster state past its bound (a snapshot must fit one Raft frame).
  STATE_TOO_LARGE: {
    status: 409,
    error: "cluster_state_too_large",
    prefix: "the cluster state would grow past its bound; nothing was changed: ",
  },
  OVERLOADED: { status: 503, error: "overloaded", retryAfterS: 1, prefix: "too much waiting to commit: " },
  // A follower had no open connection to the leader: the proposal never left (the driver knows),
  // and ClusterNode.proposeWithRetry already tried it a second time.
  NOT_SENT: {
    status: 503,
    error: "not_committed",
    retryAfterS: 1,
    explain: (err) => {
      const leader = (err as { leader?: unknown }).leader;
      const named = typeof leader === "string" && leader !== "" ? ` ${leader}` : "";
      return {
        message: `not sent to the leader${named}: no connection; nothing was proposed; retried once`,
        detail: { leader: named.trim(), cause: errorText(err) },
      };
    },
  },
  // The driver stopped (a storage write failed: disk full, read-only, I/O error; or shutdown):
  // no retry on this instance commits anything until it is restarted, so say so.
  STOPPED: RAFT_STOPPED,
  FATAL: RAFT_STOPPED,
});

const NOT_COMMITTED: ProposalFailure = {
  status: 503,
  error: "not_committed",
  retryAfterS: 1,
  prefix: "the change could not be committed (no quorum or leader change); retry: ",
};

/** Maps a failed proposal to an admin error by its code; anything uncoded is "not committed, retry". */
export function proposalError(err: unknown): AdminError {
  const code = codeOf(err);
  const f =
    (code !== undefined && Object.hasOwn(PROPOSAL_FAILURES, code) ? PROPOSAL_FAILURES[code] : undefined) ??
    NOT_COMMITTED;
  const explained = f.explain?.(err);
  const message = explained?.message ?? `${f.prefix ?? ""}${errorText(err)}`;
  const out: AdminError = { status: f.status, error: f.error, message };
  if (explained !== undefined) out.detail = explained.detail;
  if (f.retryAfterS !== undefined) out.retryAfterS = f.retryAfterS;
  return out;
}
