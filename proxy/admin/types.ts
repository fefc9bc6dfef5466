// What the admin API serves, as plain JSON-ready shapes, and the backend interface the
// composition root implements. The admin server knows HTTP; the backend knows the state.

import type { BreakerOverride } from "../../config/state/commands.js";
import type { ExpositionSink } from "../metrics/exposition-stream.js";
import type { KeyRules } from "../routing/key-extract.js";
import type { OpsBackend } from "./ops-types.js";

/** Writes a whole /metrics exposition to `sink` (the response), resolving when done. */
export type ExpositionWriter = (sink: ExpositionSink) => Promise<void>;

export interface AdminMemberView {
  id: string;
  address: string;
  weight: number;
  healthy: boolean;
  draining: boolean;
  breakerOpen: boolean;
  /** The committed breaker state. */
  breaker: "closed" | "open" | "half-open";
  /** "auto", or "open"/"closed" when an operator pinned it. */
  breakerOverride: "auto" | "open" | "closed";
  /** Where the member comes from: the config file, Consul or Kubernetes EndpointSlices. */
  source: "static" | "consul" | "kubernetes";
}

export interface AdminPoolView {
  algorithm: string;
  balanceFactor?: number;
  /** Version at which this pool's snapshot was last rebuilt. */
  ringVersion: number;
  members: AdminMemberView[];
  /** A discovered pool's watcher (discovery-view.ts); absent for a static pool. */
  discovery?: AdminDiscoveryView;
}

/** Where a discovered pool's members come from and how its watch goes (README, Admin API). */
export interface AdminDiscoveryView {
  source: "consul" | "kubernetes";
  /** The Consul service, or namespace/service for Kubernetes. */
  service: string;
  /** Whether this instance runs the watcher (the Raft leader); the figures below only then. */
  watching: boolean;
  /** Where the watch figures are: "here", or "leader" (on the instance named by `leader`). */
  on: "here" | "leader";
  /** With `on: "leader"`: the Raft leader's node id, null while none is known. */
  leader?: string | null;
  /** One answer has been applied. */
  synced?: boolean;
  /** Failed requests since the last good answer (0 while the watch goes well). */
  consecutiveErrors?: number;
  lastError?: string;
  /** ISO 8601 times of the last failure and the last good answer. */
  lastErrorAt?: string;
  lastSuccessAt?: string;
  /** Requests sent so far. */
  requests?: number;
  /** Consul: times its index went backwards (the watch started over from 0). */
  indexResets?: number;
  /** Kubernetes: watches answered 410 Gone (each re-listed), and lists whose continue token expired. */
  gone?: number;
  expiredContinues?: number;
  /** The watcher could not be built (a kubeconfig missing ...): why. */
  watcherError?: string;
}

/** This node's view of the Raft cluster. */
/** What /admin/state shows of this node's Raft view: the node's own view (proxy/cluster/cluster-node.ts). */
import type { RaftView } from "../cluster/cluster-node.js";

export type { RaftView };

/** How the local file's pools/routes differ from the committed ones (see config/config-drift.ts). */
export interface ConfigDriftView {
  drift: boolean;
  addedPools: readonly string[];
  removedPools: readonly string[];
  changedPools: readonly string[];
  routesChanged: boolean;
}

export interface AdminStateView {
  ringVersion: number;
  pools: Record<string, AdminPoolView>;
  raft?: RaftView;
  configDrift?: ConfigDriftView;
  /** Set while this node cannot reach agreement: it routes on its last applied state. */
  degraded?: string;
  /** With degraded "raft_stopped": the error that stopped the Raft driver (ENOSPC, EROFS ...). */
  degradedCause?: string;
  /** Pools whose healthy-panic guard is holding back unhealthy flips. */
  panicPools?: string[];
  /** With `workers: N`: one entry per data-plane worker (pid null while it restarts). */
  workers?: WorkerStateView[];
  /**
   * This process's descriptor limit, open descriptors and the shortages met (EMFILE ...). With
   * `workers: N` the primary's: each worker's is in its `workers` entry.
   */
  descriptors?: DescriptorView;
}

/** /admin/state's `descriptors`. */
export interface DescriptorView {
  /** The soft limit on open descriptors (RLIMIT_NOFILE), or null where /proc cannot tell. */
  limit: number | null;
  /** Descriptors open at the last sample (the limit itself when the sample found none left). */
  open: number | null;
  /** The last sample found no descriptor left, or a shortage was met since the one before. */
  atLimit: boolean;
  /** Shortages met since the start (EMFILE, ENFILE, EADDRNOTAVAIL; samples at the limit). */
  exhausted: number;
  /** The latest: what failed (accept, upstream_connect, descriptors), its code, when (ISO). */
  last?: { op: string; code: string; at: string };
}

export interface WorkerStateView {
  worker: number;
  pid: number | null;
  inFlight: number;
  /** The ring version the worker routes on (-1 before its first report). */
  ringVersion: number;
  restarts: number;
  /** The worker's own descriptor limit and shortages (absent until its first report). */
  descriptors?: DescriptorView;
}

export interface RouteExplanationView {
  pool: string;
  key?: string;
  /** The text hashed, when the key given is another spelling of it (an address; see routing/key-text.ts). */
  hashedAs?: string;
  keyHash: number;
  /** The member owning the key's hash on the ring, whatever its state. */
  owner: string | null;
  /** Where a request with this key goes now (null: no available member). */
  member: string | null;
  /** Members passed over, in ring order from the owner, and why. */
  skipped: Array<{ id: string; reason: string }>;
  ringVersion: number;
  /** Empty key only: the routes to the pool and their onMissingKey policy, and what that means. */
  onMissingKey?: Array<{ route: string; policy: string }>;
  note?: string;
  /** Present when a route of the pool has an affinity: where it sends the key (or cookie) and why. */
  affinity?: {
    route: string;
    member: string | null;
    source: "cookie" | "store" | "cache" | "ring";
    note?: string;
  };
}

export type Readiness =
  | { ready: true; degraded?: false }
  /** Serving on the last applied state without quorum (static stability): still ready. */
  | { ready: true; degraded: true; reason: string; detail?: unknown }
  | { ready: false; reason: string; detail?: unknown };

/** A refusal the admin API turns into a JSON error with this status and code. */
export interface AdminError {
  status: number;
  error: string;
  message: string;
  detail?: unknown;
  /** Seconds for a Retry-After header (transient refusals: no state yet, overloaded, no quorum). */
  retryAfterS?: number;
}

export type AdminResult<T> = { ok: true; value: T } | { ok: false; err: AdminError };

export interface ReloadView {
  ringVersion: number;
  /** Settings read from the new file that only take effect after a restart (listen addresses). */
  restartRequired: string[];
}

export interface DrainView {
  pool: string;
  member: string;
  draining: boolean;
  ringVersion: number;
}

export interface BreakerView {
  pool: string;
  member: string;
  /** The committed breaker state after the override. */
  breaker: "closed" | "open" | "half-open";
  override: "auto" | "open" | "closed";
  ringVersion: number;
}

export interface FaultView {
  /** Peers whose Raft traffic is dropped now. */
  cut: string[];
}

export interface AdminBackend {
  readiness(): Readiness;
  state(): AdminStateView;
  explainRoute(pool: string, key: string): AdminResult<RouteExplanationView>;
  /** The key spelling rules requests are read by now (routing/key-extract.ts); absent = the current ones. */
  keyRules?(): KeyRules;
  /**
   * The data listener's default port (443 with listen.tls, else 80): a host key spelled with it
   * is the same key at level 6 (routing/host-key.ts; from level 7 80 and 443 are dropped on every
   * listener, and this plays no part); absent = 80.
   */
  keyDefaultPort?(): number;
  reload(): Promise<AdminResult<ReloadView>>;
  /** Answers once the change is committed (forwarded to the leader when this node is not). */
  setDraining(pool: string, member: string, draining: boolean): Promise<AdminResult<DrainView>>;
  /** Answers once the override is committed. */
  setBreaker(pool: string, member: string, state: BreakerOverride): Promise<AdminResult<BreakerView>>;
  /** Fault injection (when enabled): cut or heal Raft traffic with `peer`, or all peers. */
  fault(action: "cut" | "heal", peer: string | undefined): AdminResult<FaultView>;
  /**
   * The Prometheus text exposition and its content type: the whole `body`, or a `stream` that
   * writes it in slices without holding the event loop (exposition-stream.ts).
   */
  metrics(): Promise<
    { contentType: string; body: string } | { contentType: string; stream: ExpositionWriter }
  >;
  /** The configured admin token; "" disables mutating endpoints. Read per request (reload may change it). */
  adminToken(): string;
  /** The affinity part of GET /admin/route (`cookie`, `route` from the query); undefined when none applies. */
  explainAffinity?(
    pool: string,
    key: string,
    cookie: string,
    route: string | undefined,
  ): Promise<RouteExplanationView["affinity"]>;
  /** POST /admin/cache/purge with {url} or {prefix} (and optionally route). */
  purgeCache?(body: unknown): Promise<AdminResult<unknown>>;
  /** Membership, leadership, snapshot, ring changes and live figures (see ops-routes.ts). */
  ops?: OpsBackend;
}
