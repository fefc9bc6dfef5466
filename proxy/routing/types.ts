// The routing contract between the data plane and whoever feeds it state (today the
// composition root from the config file; later the Raft-replicated cluster state). Inputs
// are plain data; outputs are immutable snapshots swapped by reference, never mutated by
// the request path.

import type { Address, RouteConfig } from "../../config/file/schema.js";
import type { UpstreamTlsConfig } from "../../config/file/upstream-tls-schema.js";
import type { PoolSettings } from "../../config/state/types.js";
import type { BoundedLoad } from "../../ring/bounded-load.js";
import type { HashTable } from "../../ring/types.js";
import type { KeyPlan, KeyRules } from "./key-extract.js";

/** One member as the cluster state describes it: plain data, JSON-serializable. */
export interface MemberInput {
  readonly id: string;
  readonly address: Address;
  readonly weight: number;
  /** Default true. From active checks / Consul. */
  readonly healthy?: boolean;
  /** Default false. Draining members take no new requests. */
  readonly draining?: boolean;
  /** Default false. The (replicated) circuit breaker is open. */
  readonly breakerOpen?: boolean;
  /** Default false. The breaker is half-open: only probe requests admitted by the pool's ProbeGate. */
  readonly breakerHalfOpen?: boolean;
}

/**
 * Admits probe requests to half-open members (per instance, bounded: at most the pool's
 * `halfOpenProbes` in flight). Called on the request path with the member's snapshot index,
 * only when that member would otherwise be chosen; must not allocate. Every admission is
 * given back with release() once the probe's response head arrived or its attempt ended,
 * whatever the outcome (an abort, a retry elsewhere, an upgrade), so slots never leak.
 */
export interface ProbeGate {
  admit(index: number): boolean;
  release(index: number): void;
  /** Whether admit(index) would succeed now, without taking a slot (for /admin/route). */
  available(index: number): boolean;
}

/** Everything buildPoolSnapshot needs: plain data, so a replicated state machine can hold it. */
export interface PoolSnapshotInput {
  readonly name: string;
  /** The normalized pool section of the config without its members (algorithm, timeouts, retry, ...). */
  readonly settings: PoolSettings;
  readonly members: readonly MemberInput[];
  /** The cluster-state version the pool was built at (the Raft index of the last change). */
  readonly ringVersion: number;
  /** Admission of probes to half-open members; absent = half-open members take nothing. */
  readonly probe?: ProbeGate | null;
}

/** A member inside a snapshot; `index` is its position in `PoolSnapshot.members` and the table. */
export interface SnapshotMember {
  readonly index: number;
  readonly id: string;
  readonly address: Address;
  /** "host:port" (IPv6 in brackets), for logs and the admin API. */
  readonly hostPort: string;
  readonly weight: number;
  readonly healthy: boolean;
  readonly draining: boolean;
  readonly breakerOpen: boolean;
  readonly breakerHalfOpen: boolean;
  /** Identifies the keep-alive agent for this member ("pool/id@host:port"); a new address means a new agent. */
  readonly agentKey: string;
  /** The pool's upstream TLS settings; absent = plain HTTP. */
  readonly tls?: UpstreamTlsConfig;
}

export interface PoolSnapshot {
  readonly name: string;
  readonly settings: PoolSettings;
  readonly ringVersion: number;
  /** The built ring or Maglev table (members sorted by id). */
  readonly table: HashTable;
  /** Present when settings.balanceFactor is set: the bounded-load decorator over `table`. */
  readonly bounded: BoundedLoad | null;
  /** Indexed exactly like `table.members`. */
  readonly members: readonly SnapshotMember[];
  /** 1 where a member may take new requests (healthy, not draining, breaker closed); 2 where it may take probes only (breaker half-open); 0 otherwise. */
  readonly eligible: Uint8Array;
  readonly probe: ProbeGate | null;
  readonly byId: ReadonlyMap<string, number>;
  /**
   * Each member's slot, indexed like `members`: a small number, dense over the pool, that a
   * member keeps in every later snapshot of its pool for as long as it stays (unlike its
   * index, which a join or leave shifts). Per-member records on the request path (metrics
   * series, breaker outcome counts) are arrays indexed by slot. A slot freed by a leaver is
   * given to a later joiner, so whoever binds a slot to a member must check the member id
   * before trusting it: a request from an older snapshot may carry a reused slot.
   * Local to this process (never replicated, not part of the table).
   */
  readonly slots: Int32Array;
  /** Upper-case methods that may be retried (settings.retry.methods). */
  readonly retryMethods: ReadonlySet<string>;
}

/** A compiled route (see route-table.ts for matching order). */
export interface CompiledRoute {
  /** Position in the config's route list; used as the route label ("0", "1", ...) unless named. */
  readonly index: number;
  /** A stable label for metrics and logs: `${host}${pathPrefix}`. */
  readonly label: string;
  readonly config: RouteConfig;
  readonly pool: string;
  /** The compiled key sources and trusted-proxy list. */
  readonly keyPlan: KeyPlan;
}

export interface RouteTable {
  /** Longest match for a request's Host header (any case, port allowed) and URL; null if none. */
  match(host: string | undefined, url: string): CompiledRoute | null;
  readonly routes: readonly CompiledRoute[];
  /** The key spelling rules every route's KeyPlan was compiled with. */
  readonly rules: KeyRules;
}

/** What the data plane routes on; replaced as a whole (by reference) on every change. */
export interface RoutingState {
  readonly pools: ReadonlyMap<string, PoolSnapshot>;
  readonly routeTable: RouteTable;
  readonly ringVersion: number;
  /** True before a committed cluster state exists (the file's routing, or nothing): an unmatched request is answered 503 no_committed_state, not 404. */
  readonly provisional?: boolean;
}

/** Holds the current RoutingState; `apply` swaps the reference (no mutation in place). */
export interface RoutingStateHolder {
  get(): RoutingState;
  apply(next: RoutingState): void;
}

/** Why chooseMember passed a member over. */
export type SkipReason =
  | "unhealthy"
  | "draining"
  | "breaker_open"
  | "breaker_half_open"
  | "refused_locally"
  | "tried"
  | "over_load_cap";

export interface SkippedMember {
  id: string;
  reason: SkipReason;
}

/**
 * Per-pool live counters the request path mutates (never part of the snapshot): in-flight
 * requests per member and the local "refused connections until" deadline per member, both
 * indexed like `snapshot.members`. See proxy/routing/pool-live.ts.
 */
export interface PoolLiveView {
  readonly snapshot: PoolSnapshot;
  readonly inFlight: Int32Array;
  readonly totalInFlight: number;
  /** Monotonic ms (performance.now()) until which a member is skipped locally; 0 = not skipped. */
  readonly skipUntil: Float64Array;
  /**
   * Until when a new request's choice passes a member over: +Infinity while `snapshot` does not
   * let it take ordinary requests (eligible is not 1), else its skipUntil.
   */
  readonly passUntil: Float64Array;
}

/** The answer to GET /admin/route (explain mode of chooseMember). */
export interface RouteExplanation {
  pool: string;
  keyHash: number;
  owner: string | null;
  member: string | null;
  skipped: SkippedMember[];
  ringVersion: number;
  /** For an empty key: each route to the pool and its onMissingKey policy (what the data plane does). */
  onMissingKey?: Array<{ route: string; policy: string }>;
  note?: string;
}

/** Why a request did not go to its key's ring owner (first attempt). */
export type NotOwnerReason = "affinity" | "drain" | "breaker" | "health" | "bounded_load";
