// The shape of the replicated cluster state. Plain, JSON-serializable data: it is
// snapshotted byte for byte, compared across replicas, and read by the proxy as an
// immutable value that is swapped, never mutated.

import type { StateErrorCode } from "../coded-error.js";
import type { Address, PoolConfig, RoutingConfig } from "../file/schema.js";
import type { BreakerOverride, BreakerState, CommandType, MemberSource } from "./commands.js";

export type { BreakerOverride, BreakerState, MemberSource };

export interface BreakerStatus {
  readonly state: BreakerState;
  /** When the breaker entered `state` (ms since epoch, as proposed). */
  readonly since: number;
  /** For "open": when it may move to half-open; 0 otherwise. */
  readonly until: number;
  /** Consecutive trips (for openFor backoff); 0 once closed. */
  readonly trips: number;
  /** "auto": the failure rules decide; "open"/"closed": pinned by an operator until set back to auto. */
  readonly override: BreakerOverride;
}

export interface MemberState {
  readonly id: string;
  readonly address: Address;
  readonly weight: number;
  readonly source: MemberSource;
  /** As last reported by discovery or active checks; new members start healthy. */
  readonly healthy: boolean;
  /** Operator drain: keeps serving nothing new from the ring. */
  readonly draining: boolean;
  readonly breaker: BreakerStatus;
}

/** A pool's settings: the pool's config without its static members (those live in `members`). */
export type PoolSettings = Omit<PoolConfig, "members">;

export interface PoolState {
  readonly settings: PoolSettings;
  /** Sorted by id, so every replica builds the same ring from the same list. */
  readonly members: readonly MemberState[];
  /** Raft index of the last command that changed this pool's ring inputs. */
  readonly ringVersion: number;
}

export interface ClusterStateData {
  readonly format: "shardgate.cluster-state";
  readonly v: 1;
  /** Raft index of the last applied entry (including rejected ones). */
  readonly appliedIndex: number;
  /** Raft index of the last applied command that changed routing (any pool's ring, or routes). */
  readonly ringVersion: number;
  /** Pools and routes exactly as the last SetRouting delivered them (what configDrift compares). */
  readonly routing: RoutingConfig | null;
  /** Live per-pool state: settings (file + run-time changes), members, health, drain, breakers. */
  readonly pools: Readonly<Record<string, PoolState>>;
}

/** What one apply did, so the proxy can rebuild only what changed, off the request path. */
export interface StateChange {
  readonly index: number;
  /** The command's type, or null if the bytes were not a valid command. */
  readonly type: CommandType | null;
  readonly applied: boolean;
  /** Why the command was rejected (no state change beyond appliedIndex). */
  readonly error?: string;
  /** Why a rejected entry was rejected, as a stable code (absent when applied). */
  readonly code?: StateErrorCode;
  /** Parts of an applied command that were skipped (e.g. health for a member that left). */
  readonly warnings: readonly string[];
  /** Pools whose ring inputs changed: members, weights, health, drain, breaker state, hashing settings. */
  readonly ringChanged: readonly string[];
  /** Pools with any change at all (superset of ringChanged, excluding removed pools). */
  readonly poolsChanged: readonly string[];
  readonly addedPools: readonly string[];
  readonly removedPools: readonly string[];
  readonly routesChanged: boolean;
  /** The state's ringVersion after this apply. */
  readonly ringVersion: number;
}
