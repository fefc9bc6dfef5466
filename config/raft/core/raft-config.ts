// RaftNode's configuration (with its validation) and the status it reports.

import type { ConfState, NodeId } from "../types.js";
import { RaftConfigError } from "./errors.js";
import { isAdvertisableLevel } from "./feature-level.js";
import type { ProgressState } from "./progress.js";
import type { Role } from "./ready.js";
import type { RefusalReason } from "./refusals.js";
import type { RaftStorage } from "./storage.js";

export interface RaftConfig {
  /** This node's id (non-empty). */
  readonly id: NodeId;
  readonly storage: RaftStorage;
  /** Seed of the PRNG that randomizes election timeouts. */
  readonly seed: number;
  /** Ticks without a leader before campaigning; the timeout is random in [electionTick, 2*electionTick). Default 10. */
  readonly electionTick?: number;
  /** Ticks between leader heartbeats; must be < electionTick. Default 1. */
  readonly heartbeatTick?: number;
  /** Run a pre-vote round before incrementing the term (thesis §9.6). Default true. */
  readonly preVote?: boolean;
  /** Leader steps down without a quorum; followers with a live leader ignore votes. Default true. */
  readonly checkQuorum?: boolean;
  /** Max entries per append message. Default 64. */
  readonly maxMsgEntries?: number;
  /** Max entry data bytes per append message (at least one entry is always sent). Default 1 MiB. */
  readonly maxMsgBytes?: number;
  /** Max in-flight appends per follower in replicate state. Default 64. */
  readonly maxInflight?: number;
  /** Max committed entry bytes per Ready. Default 4 MiB. */
  readonly maxApplyBytes?: number;
  /**
   * Leader: max data bytes of entries proposed in its term and not yet committed (etcd's
   * MaxUncommittedEntriesSize); past it proposals are refused (ProposalDropped "uncommitted
   * log full"). One proposal is always accepted when nothing is uncommitted. Default 4 MiB.
   */
  readonly maxUncommittedBytes?: number;
  /** Leader: max ReadIndex requests waiting for confirmation; past it reads are refused. Default 4096. */
  readonly maxPendingReads?: number;
  /**
   * This data directory's incarnation ("" for a founder's, the default), stamped on every
   * message. The node votes and campaigns only while its configuration names this incarnation
   * for it: a node that lost its disk (a new incarnation) must never help elect a stale
   * candidate with its empty log, and it may have forgotten a vote it gave.
   */
  readonly incarnation?: string;
  /** Leader: a learner is promoted only when at most this many entries behind. Default 8. */
  readonly maxPromoteLag?: number;
  /** Last index the state machine applied before a restart (default: the snapshot index). */
  readonly applied?: number;
  /**
   * The feature level this node advertises in its responses (core/feature-level.ts). Default
   * CURRENT_LEVEL; a lower one is a test seam that makes the node act as an older build.
   */
  readonly level?: number;
  /**
   * The committed cluster level at start (the driver reads it from its snapshot and log and
   * keeps it current with setClusterLevel). Conf changes above it are refused. Default
   * CURRENT_LEVEL: a core used without a driver (simulators) runs as an upgraded fleet.
   */
  readonly clusterLevel?: number;
  /**
   * Called when a message is refused because of who sent it (core/refusals.ts): a vote
   * request from a node this configuration does not name a voter, a timeoutNow from anyone
   * but this term's leader. Nothing else happens to the node. Default: nothing.
   */
  readonly onRefused?: (from: NodeId, reason: RefusalReason) => void;
  /**
   * Leader: follower `from` refused snapshot `index` (snapStatus, `reason` as it sent it); the
   * next one goes after `retryInTicks` (or sooner if a newer snapshot is taken). Default: nothing.
   */
  readonly onSnapshotRefused?: (from: NodeId, index: number, reason: string, retryInTicks: number) => void;
  /**
   * Leader: the data of a normal entry a follower forwarded, before it is appended; what it
   * returns is appended instead (the same data, or the driver's refusal of it, which the
   * proposer recognises when it applies the entry). Called only for an entry that is then
   * appended (one dropped for maxUncommittedBytes is not vetted). Default: appended as it came.
   */
  readonly vetForwarded?: (data: Uint8Array) => Uint8Array;
}

export interface ProposalResult {
  /** True when a follower forwarded the proposal to its leader (index/term are then 0). */
  readonly forwarded: boolean;
  readonly index: number;
  readonly term: number;
}

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
  readonly isLearner: boolean;
  /** This node's incarnation, and whether its configuration names it a voter under it. */
  readonly incarnation: string;
  readonly admitted: boolean;
  readonly leadTransferee: NodeId;
  /** This node's advertised feature level, and the committed cluster level it gates on. */
  readonly level: number;
  readonly clusterLevel: number;
  /** Leader only: each member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

export function validateConfig(c: RaftConfig): void {
  for (const f of ["level", "clusterLevel"] as const) {
    const v = c[f];
    if (v !== undefined && !isAdvertisableLevel(v))
      throw new RaftConfigError(f, "must be an integer in [0, 1000]");
  }
  if (typeof c.id !== "string" || c.id === "") throw new RaftConfigError("id", "must be a non-empty string");
  if (!c.storage) throw new RaftConfigError("storage", "is required");
  if (!Number.isInteger(c.seed)) throw new RaftConfigError("seed", "must be an integer");
  const et = c.electionTick ?? 10;
  const ht = c.heartbeatTick ?? 1;
  if (!Number.isInteger(et) || et < 2) throw new RaftConfigError("electionTick", "must be an integer >= 2");
  if (!Number.isInteger(ht) || ht < 1) throw new RaftConfigError("heartbeatTick", "must be an integer >= 1");
  if (ht >= et) throw new RaftConfigError("heartbeatTick", "must be smaller than electionTick");
  for (const f of [
    "maxMsgEntries",
    "maxMsgBytes",
    "maxInflight",
    "maxApplyBytes",
    "maxUncommittedBytes",
    "maxPendingReads",
  ] as const) {
    const v = c[f];
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      throw new RaftConfigError(f, "must be an integer >= 1");
  }
}
