// Raft's data types shared by the core, the storage and the driver. Everything here is
// plain data so that it can be persisted and sent without a class hierarchy.
// The core (config/raft/core*) owns the message types; storage only needs what is below.

export type NodeId = string;

export type EntryType = "normal" | "conf";

/** One log entry. `data` is opaque to Raft (a state-machine command or an encoded conf change). */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state a node must persist before it sends any message that depends on it. */
export interface HardState {
  readonly term: number;
  /** The candidate voted for in `term`, or "" for none. */
  readonly vote: NodeId;
  readonly commit: number;
}

/**
 * Cluster membership as of some log index. `incarnations` names the data directory each member
 * is (issue 9): a member without an entry is a founder (incarnation ""), as every member of a
 * configuration written before incarnations existed. A message whose sender incarnation is not
 * the one named here neither votes nor counts toward a quorum. `rejoin` lists learners that were
 * voters replaced under a new incarnation: the leader promotes them back once caught up.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly incarnations?: Readonly<Record<NodeId, string>>;
  readonly rejoin?: readonly NodeId[];
}

/**
 * The data directories a node's configuration history retired as of a snapshot (core/retired-dirs.ts),
 * in order, oldest first: per member its replaced incarnations; members that left, with theirs
 * and the incarnation they left on; members re-added naming no directory, with the one trusted.
 */
export interface RetiredState {
  readonly retired: readonly (readonly [NodeId, readonly string[]])[];
  readonly departed: readonly (readonly [NodeId, readonly string[], string])[];
  readonly trusted: readonly (readonly [NodeId, string])[];
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers, and that entry's term. */
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
  /**
   * This node's retired data directories as of `index`: kept in its snapshot file so that a
   * restart after compaction forgets none. Sent with the snapshot once the fleet is at
   * LEVEL_SNAPSHOT_RETIRED: the follower installs the leader's, with what its own committed
   * history retired kept beside it (core/raft-node.ts handleSnapshot).
   */
  readonly retired?: RetiredState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's serialized state (opaque to Raft). */
  readonly data: Uint8Array;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: "", commit: 0 };

/**
 * A single-server membership change (Ongaro's thesis §4.1). Promoting a learner is `addVoter`
 * on an existing learner; demoting a voter is `removeNode` followed by `addLearner`.
 */
export type ConfChangeType = "addLearner" | "addVoter" | "removeNode";

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
  /**
   * addLearner/addVoter: the node's data-directory incarnation ("" or absent: keep the one the
   * configuration names, "" for a new member). addLearner on a member under ANOTHER incarnation
   * replaces it: a voter is demoted and, with `rejoin`, promoted back by the leader once caught up.
   */
  readonly incarnation?: string;
  readonly rejoin?: boolean;
}

export const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] };
