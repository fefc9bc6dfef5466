// What the operations endpoints serve (Raft membership, leadership transfer, the replicated
// state's copy, recent ring changes, per-member live figures) and the backend they read.
// Kept apart from types.ts so the core admin API's shapes stay small.

import type { RaftView } from "../cluster/cluster-node.js";
import type { SignalsView } from "./signals.js";
import type { AdminResult } from "./types.js";

export interface PeerView {
  id: string;
  address: string;
  role: "voter" | "learner";
  /** This node itself. */
  self: boolean;
  /** Transport connected (false for self). */
  connected: boolean;
  /** Leader only: the peer's match index and how far it is behind the leader's last index. */
  match?: number;
  lag?: number;
  /** Leader only: how it sends to the peer (`probe` while the peer is unreachable or being found). */
  state?: "replicate" | "probe" | "snapshot";
  /** The feature level it advertises (self; the leader: every member it heard this term). */
  level?: number;
}

/** The node's Raft view (proxy/cluster/cluster-node.ts) with the leader's per-peer progress. */
export interface PeersView
  extends Pick<RaftView, "id" | "role" | "term" | "leader" | "commitIndex" | "appliedIndex"> {
  lastIndex: number;
  /** The committed cluster level. */
  clusterLevel?: number;
  /** The fleet's cluster id, as /admin/state's raft.clusterId: null until the cluster has fixed it. */
  clusterId: string | null;
  peers: PeerView[];
}

export interface MembershipView {
  action: "add-learner" | "promote" | "remove";
  id: string;
  /** Raft index of the configuration change. */
  index: number;
  voters: readonly string[];
  learners: readonly string[];
}

export interface TransferView {
  leader: string;
  term: number;
}

/** A copy of the replicated cluster state, with where it came from. */
export interface SnapshotView {
  format: "shardgate.cluster-snapshot";
  takenAt: string;
  node: string;
  term: number;
  /** The replicated state itself (ClusterStateData). */
  state: unknown;
}

/** One committed change that rebuilt a ring, newest last. */
export interface RingChangeView {
  at: string;
  index: number;
  ringVersion: number;
  pools: string[];
  /** The command that caused it (Drain, Health, Breaker, SetRouting, Membership...) or "snapshot". */
  command: string;
  /** Where it came from: operator, health, breaker, consul, kubernetes, reload, snapshot, other. */
  cause: string;
}

/** Live figures of one member on this instance (request window of the last ~10 s). */
export interface MemberLiveView {
  inFlight: number;
  /** Requests per second over the window. */
  rate: number;
  /** Share of responses that were 5xx or proxy errors, 0..1. */
  errorRate: number;
  /** Milliseconds; null without requests in the window. */
  p50: number | null;
  p99: number | null;
}

/** The members one reader wants live figures of (the dashboard's page), instead of every member. */
export interface LiveFilter {
  pool: string;
  ids: readonly string[];
}

export interface LiveView {
  windowSeconds: number;
  pools: Record<string, Record<string, MemberLiveView>>;
}

/** One instance of the fleet as the dashboard lists it. */
export interface FleetInstanceView {
  /** Its admin URL from admin.fleet, or "self". */
  admin: string;
  reachable: boolean;
  error?: string;
  self?: boolean;
  id?: string;
  role?: string;
  term?: number;
  leader?: string;
  commitIndex?: number;
  appliedIndex?: number;
  voters?: readonly string[];
  learners?: readonly string[];
  ringVersion?: number;
  degraded?: string;
  /** Entries behind the leader's log (from the leader's view); 0 for the leader. */
  lag?: number;
}

export interface OpsBackend {
  peers(): PeersView | undefined;
  transferLeader(id: string): Promise<AdminResult<TransferView>>;
  addLearner(id: string, address: string): Promise<AdminResult<MembershipView>>;
  promote(id: string): Promise<AdminResult<MembershipView>>;
  remove(id: string): Promise<AdminResult<MembershipView>>;
  snapshot(): AdminResult<SnapshotView>;
  changes(): RingChangeView[];
  /** Every member's figures, or only `only`'s (a 10,000-member pool read whole took 100+ ms). */
  live(only?: LiveFilter): LiveView;
  fleet(): Promise<FleetInstanceView[]>;
  /** The pool's table for drawing (see app/ring-view.ts). */
  /** `top`: list the members the arcs name and the `top` largest shares, not all of them. */
  ring(pool: string, top?: number): AdminResult<unknown>;
  /** The dashboard's Signals panel: DNS, refused snapshots, client errors (signals.ts). */
  signals?(): Promise<SignalsView>;
}
