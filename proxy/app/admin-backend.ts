// The admin API's view of the running app: readiness, state and route explanations read from
// the applied RoutingState and the committed cluster state; reload, drain and breaker
// overrides delegate to the app (they are cluster proposals). Allocation here is fine: none of
// it is on the request path.

import { Registry } from "prom-client";
import type { BreakerOverride } from "../../config/state/commands.js";
import type { ClusterStateData } from "../../config/state/types.js";
import type { PoolMembershipStatus } from "../../health/membership-controller.js";
import { discoveryView } from "../admin/discovery-view.js";
import type { OpsBackend } from "../admin/ops-types.js";
import type {
  AdminBackend,
  AdminResult,
  AdminStateView,
  BreakerView,
  ConfigDriftView,
  DescriptorView,
  DrainView,
  FaultView,
  RaftView,
  Readiness,
  ReloadView,
  RouteExplanationView,
  WorkerStateView,
} from "../admin/types.js";
import type { EdgeAdmin } from "../edge/edge-admin.js";
import type { DataPlane } from "../forward/types.js";
import { canStream, streamExposition } from "../metrics/exposition-stream.js";
import type { RoutingState } from "../routing/types.js";
import { OVERLOAD_NORMAL, OVERLOAD_REFUSE } from "../server/overload.js";

/** What the admin API reads the routing from (CommittedRouting in the app). */
export interface RoutingSource {
  current(): RoutingState;
  /** True once the routing comes from a committed cluster state. */
  readonly applied: boolean;
  /** The committed cluster state, or null before the first one. */
  readonly committed: ClusterStateData | null;
}

export interface AdminBackendDeps {
  routing: RoutingSource;
  dataPlane: DataPlane;
  /** The Prometheus exposition (with workers: every worker's metrics aggregated). */
  registry: Pick<Registry, "contentType" | "metrics">;
  adminToken(): string;
  shuttingDown(): boolean;
  /** The data listener's default port: 443 with listen.tls, else 80 (a restart changes it, not a reload). */
  keyDefaultPort?: number;
  /**
   * The memory overload level (proxy/server/overload.ts), the highest of the primary's and its
   * workers': shedding (1) stays ready, refusing connections (2) is not; absent = never overloaded.
   */
  overloadLevel?(): number;
  reload(): Promise<AdminResult<ReloadView>>;
  setDraining(pool: string, member: string, draining: boolean): Promise<AdminResult<DrainView>>;
  setBreaker(pool: string, member: string, state: BreakerOverride): Promise<AdminResult<BreakerView>>;
  fault(action: "cut" | "heal", peer: string | undefined): AdminResult<FaultView>;
  raft(): RaftView | undefined;
  drift(): ConfigDriftView | undefined;
  /** Why this node cannot reach agreement now (it keeps routing on its last state), or null. */
  degraded(): string | null;
  /** The error that stopped the Raft driver, or null (shown next to degraded "raft_stopped"). */
  degradedCause?(): string | null;
  panicPools(): string[];
  /** The discovery watchers this instance runs (the leader's), by pool; absent = none. */
  discovery?(): Record<string, PoolMembershipStatus>;
  /** The edge features' admin view (affinity explanations, cache purge); absent = none. */
  edge?: EdgeAdmin;
  ops?: OpsBackend;
  /** With `workers: N`: each data-plane worker's pid, in-flight requests, ring version and restarts. */
  workers?: () => WorkerStateView[];
  /** This process's descriptor limit and shortages (proxy/app/descriptor-limits.ts). */
  descriptors?: () => DescriptorView;
}

function routedPools(state: RoutingState): Set<string> {
  return new Set(state.routeTable.routes.map((r) => r.pool));
}

export function createAdminBackend(d: AdminBackendDeps): AdminBackend {
  return {
    readiness(): Readiness {
      if (d.shuttingDown()) return { ready: false, reason: "shutting_down" };
      if (!d.routing.applied) return { ready: false, reason: "no_committed_state" };
      // Only refusing takes the instance out of its Service. While it merely sheds, it stays an
      // endpoint: when every instance sheds at once (one traffic peak over the fleet), a Service
      // with no ready endpoint fails all requests, where shedding instances still serve what memory
      // allows and answer the rest 503 with Retry-After (Envoy's overload manager also sheds and
      // keeps serving). A process past refuseAt refuses new connections anyway.
      const overload = d.overloadLevel?.() ?? OVERLOAD_NORMAL;
      if (overload >= OVERLOAD_REFUSE) return { ready: false, reason: "overloaded" };
      // workers: N: the primary serves nothing itself; while every worker is down (restarting),
      // nothing answers on the proxy port.
      if (d.workers?.().every((w) => w.pid === null)) return { ready: false, reason: "no_worker_running" };
      const state = d.routing.current();
      const unavailable: string[] = [];
      for (const pool of routedPools(state)) {
        const snap = state.pools.get(pool);
        if (snap === undefined || !snap.eligible.includes(1)) unavailable.push(pool);
      }
      if (unavailable.length > 0) {
        return { ready: false, reason: "no_available_member", detail: { pools: unavailable.sort() } };
      }
      // Static stability: without quorum this node keeps routing on its last applied state,
      // and stays in its Service's endpoints; the reason says why it is degraded.
      const degraded = d.degraded();
      if (degraded === null && overload > OVERLOAD_NORMAL)
        return { ready: true, degraded: true, reason: "overloaded" };
      if (degraded !== null) {
        const cause = d.degradedCause?.() ?? null;
        return cause === null
          ? { ready: true, degraded: true, reason: degraded }
          : { ready: true, degraded: true, reason: degraded, detail: { cause } };
      }
      return { ready: true };
    },

    state(): AdminStateView {
      const state = d.routing.current();
      const committed = d.routing.committed;
      const pools: AdminStateView["pools"] = {};
      const watchers = d.discovery?.() ?? {};
      // Where a follower's discovery figures are: the leader runs the watchers.
      const raftView = d.raft();
      for (const [name, snap] of state.pools) {
        const cm = new Map((committed?.pools[name]?.members ?? []).map((m) => [m.id, m]));
        pools[name] = {
          algorithm: snap.settings.algorithm,
          ...(snap.settings.balanceFactor === undefined
            ? {}
            : { balanceFactor: snap.settings.balanceFactor }),
          ringVersion: snap.ringVersion,
          members: snap.members.map((m) => {
            const c = cm.get(m.id);
            return {
              id: m.id,
              address: m.hostPort,
              weight: m.weight,
              healthy: m.healthy,
              draining: m.draining,
              breakerOpen: m.breakerOpen,
              breaker: c?.breaker.state ?? "closed",
              breakerOverride: c?.breaker.override ?? "auto",
              source: c?.source ?? "static",
            };
          }),
        };
        const discovery = discoveryView(
          committed?.pools[name]?.settings.discovery,
          Object.hasOwn(watchers, name) ? watchers[name] : undefined,
          raftView?.leader,
        );
        if (discovery !== undefined) pools[name].discovery = discovery;
      }
      const view: AdminStateView = { ringVersion: state.ringVersion, pools };
      if (d.workers !== undefined) view.workers = d.workers();
      if (d.descriptors !== undefined) view.descriptors = d.descriptors();
      if (raftView !== undefined) view.raft = raftView;
      const drift = d.drift();
      if (drift !== undefined) view.configDrift = drift;
      const degraded = d.degraded();
      if (degraded !== null) view.degraded = degraded;
      const cause = d.degradedCause?.() ?? null;
      if (cause !== null) view.degradedCause = cause;
      const panic = d.panicPools();
      if (panic.length > 0) view.panicPools = panic;
      return view;
    },

    keyRules: () => d.routing.current().routeTable.rules,
    keyDefaultPort: () => d.keyDefaultPort ?? 80,

    explainRoute(pool: string, key: string): AdminResult<RouteExplanationView> {
      const e = d.dataPlane.explain(pool, key);
      if (e === null) {
        return { ok: false, err: { status: 404, error: "unknown_pool", message: `no pool named "${pool}"` } };
      }
      return {
        ok: true,
        value: {
          pool: e.pool,
          key,
          keyHash: e.keyHash,
          owner: e.owner,
          member: e.member,
          skipped: e.skipped,
          ringVersion: e.ringVersion,
          ...(e.onMissingKey === undefined ? {} : { onMissingKey: e.onMissingKey, note: e.note }),
        },
      };
    },

    reload: () => d.reload(),
    setDraining: (pool, member, draining) => d.setDraining(pool, member, draining),
    setBreaker: (pool, member, state) => d.setBreaker(pool, member, state),
    fault: (action, peer) => d.fault(action, peer),

    async metrics() {
      const r = d.registry;
      // This process's own registry is written in slices (exposition-stream.ts); the workers'
      // aggregate (primary-workers.ts) is still one string.
      if (r instanceof Registry && canStream(r))
        return { contentType: r.contentType, stream: (sink) => streamExposition(r, sink) };
      return { contentType: r.contentType, body: await r.metrics() };
    },

    adminToken: () => d.adminToken(),

    explainAffinity: async (pool, key, cookie, route) => d.edge?.explain(pool, key, cookie, route),
    purgeCache: async (body) =>
      d.edge === undefined
        ? { ok: false, err: { status: 404, error: "no_cache", message: "no route has a cache" } }
        : d.edge.purge(body),
    ops: d.ops,
  };
}
