// What the composition root (proxy/app.ts) wires when `workers` is more than 1: the primary
// keeps the Raft node, the committed state and the admin API, and serves no request; this
// object owns the supervisor and everything that makes the primary speak for its workers
// (their outcome batches, their metrics aggregated into one exposition, their per-worker view
// in /admin/state, applied entries and reloads passed on to them, their drain before its own).

import type { Logger } from "pino";
import { AggregatorRegistry, Counter, Gauge, type Registry } from "prom-client";
import type { ShardgateConfig } from "../../config/file/schema.js";
import type { ClusterStateData, StateChange } from "../../config/state/cluster-state.js";
import {
  MEMBER_HISTOGRAM,
  type MemberHistogramMode,
  memberHistogramsOn,
} from "../metrics/member-histogram-mode.js";
import { NO_ROUTE, REMOVED_MEMBER, REMOVED_ROUTE } from "../metrics/series-cache.js";
import type { KeyRules } from "../routing/key-extract.js";
import type { RoutingState } from "../routing/types.js";
import { LiveAggregate } from "./live-aggregate.js";
import type { RoutingRebuild } from "./messages.js";
import { MetricsCarry, type SeriesKeep, type WorkerMetrics } from "./metrics-carry.js";
import { type SupervisorInit, WorkerSupervisor, type WorkerView } from "./supervisor.js";
import { WorkerOutcomes } from "./worker-outcomes.js";

/** Past the drain deadline, how long a worker may take to close and exit before it is killed. */
const EXIT_GRACE_MS = 5_000;

/**
 * What a worker rebuilds for one applied entry: the same decision CommittedChanges makes for
 * this process (proxy/cluster/committed-changes.ts), so workers rebuild exactly when it does.
 */
export function rebuildFor(
  change: StateChange | null,
  before: ClusterStateData,
  after: ClusterStateData,
): RoutingRebuild | null {
  if (after.routing === null) return null;
  if (change === null) return { pools: "all", routesChanged: true };
  if (!change.applied) return null;
  const nothingRouted =
    change.poolsChanged.length === 0 &&
    change.removedPools.length === 0 &&
    !change.routesChanged &&
    after.routing === before.routing;
  if (nothingRouted) return null;
  return { pools: change.poolsChanged, routesChanged: change.routesChanged };
}

/** Labels that name nothing current: "none" (no route / no member) and "removed" (late requests). */
const PLACEHOLDERS: ReadonlySet<string> = new Set([NO_ROUTE, REMOVED_MEMBER, REMOVED_ROUTE]);

/**
 * Keeps a series unless its pool, its member in that pool, or its route is gone from `state`,
 * or it is a member histogram of a pool that `mode` (metrics.memberHistograms) gives none.
 */
export function currentSeries(state: RoutingState, mode: MemberHistogramMode): SeriesKeep {
  const routes = new Set(state.routeTable.routes.map((r) => r.label));
  return (labels, metric) => {
    const route = labels.route;
    if (typeof route === "string" && !PLACEHOLDERS.has(route) && !routes.has(route)) return false;
    const pool = labels.pool;
    if (typeof pool !== "string" || PLACEHOLDERS.has(pool)) return true;
    const snap = state.pools.get(pool);
    if (snap === undefined) return false;
    // The live workers drop theirs at the scrape after a reload turns them off; a dead worker's go too.
    if (metric === MEMBER_HISTOGRAM && !memberHistogramsOn(mode, snap.byId.size)) return false;
    const member = labels.member;
    return typeof member !== "string" || PLACEHOLDERS.has(member) || snap.byId.has(member);
  };
}

export interface PrimaryBinding {
  logger: Logger;
  registry: Registry;
  committed(): ClusterStateData | null;
  env: NodeJS.ProcessEnv;
  init: SupervisorInit["init"];
  memorySplit: SupervisorInit["memorySplit"];
  certificates: SupervisorInit["certificates"];
}

export class PrimaryWorkers {
  readonly outcomes = new WorkerOutcomes();
  /** The workers' live figures, for GET /admin/live and the dashboard. */
  readonly live = new LiveAggregate();
  /** Where the workers listen, once started. */
  address: string | undefined;
  private supervisor: WorkerSupervisor | undefined;
  private graceMs = 0;

  constructor(readonly count: number) {}

  /** Creates the supervisor once the process logger, metrics and cluster settings exist. */
  bind(b: PrimaryBinding): void {
    const restarts = new Counter({
      name: "shardgate_worker_restarts_total",
      help: "Data-plane workers restarted after they died",
      registers: [b.registry],
    });
    const supervisor = new WorkerSupervisor({
      count: this.count,
      logger: b.logger.child({ component: "workers" }),
      outcomes: this.outcomes,
      live: this.live,
      committed: b.committed,
      init: b.init,
      memorySplit: b.memorySplit,
      certificates: b.certificates,
      env: b.env,
      onRestart: () => restarts.inc(),
    });
    new Gauge({
      name: "shardgate_workers",
      help: "Data-plane workers running now (the configured count when all are up)",
      registers: [b.registry],
      collect() {
        this.set(supervisor.live);
      },
    });
    this.supervisor = supervisor;
    this.graceMs = b.init.drainTimeoutMs + EXIT_GRACE_MS;
  }

  private get s(): WorkerSupervisor {
    if (this.supervisor === undefined) throw new Error("PrimaryWorkers used before bind()");
    return this.supervisor;
  }

  readonly afterApplied = (
    change: StateChange | null,
    before: ClusterStateData,
    after: ClusterStateData,
  ): void => {
    this.s.applied(after, rebuildFor(change, before, after));
    this.live.retain(after.pools);
  };

  /** The key spelling rules the primary reads by (set after bind, then on every change): every worker follows. */
  readonly keyRules = (rules: KeyRules): void => {
    this.supervisor?.keyRules(rules);
  };

  /** The primary's listener certificates changed: every worker serves the new pairs. */
  readonly certificatesChanged = (): void => {
    this.supervisor?.certificatesChanged();
  };

  readonly reloaded = (config: ShardgateConfig): void => {
    this.s.reloaded({ log: config.log, metrics: config.metrics });
  };

  /** The primary routes provisionally on a reloaded file (no routing committed yet): so does every worker. */
  readonly provisional = (config: ShardgateConfig): void => {
    this.s.provisional({ pools: config.pools, routes: config.routes });
  };

  readonly views = (): WorkerView[] => this.s.views();
  /** The highest memory overload level of any worker (the instance's /readyz reads it with the primary's). */
  readonly overloadLevel = (): number => this.s.overloadLevel();
  /** The highest memory usage ratio of any worker (their beats), for shardgate_memory_usage_ratio. */
  readonly memoryUsage = (): number => this.s.memoryUsage();
  /** The sum of the workers' estimates for their open TLS connections (their beats), for shardgate_memory_tls_estimate_bytes. */
  readonly tlsBytes = (): number => this.s.tlsBytes();

  async start(): Promise<{ ok: true } | { ok: false; message: string }> {
    const r = await this.s.start();
    if (r.ok) this.address = r.address;
    return r.ok ? { ok: true } : r;
  }

  /** Drains every worker; resolves once all have exited. */
  readonly stop = (reason: string): Promise<void> =>
    this.supervisor === undefined ? Promise.resolve() : this.supervisor.stop(reason, this.graceMs);

  /**
   * The admin API's /metrics: this process's registry (Raft, cluster, reloads) and every
   * worker's (requests, latencies, in-flight), summed per series by prom-client's aggregator;
   * the counters of restarted workers are carried on, so no total goes backwards (metrics-carry.ts).
   */
  registry(
    own: Registry,
    routing: () => RoutingState,
    memberHistograms: () => MemberHistogramMode,
  ): Pick<Registry, "contentType" | "metrics"> {
    const carry = new MetricsCarry();
    return {
      contentType: own.contentType,
      metrics: async () => {
        const answered = (await this.s.metrics()) as WorkerMetrics[];
        const live = new Set<number>();
        for (const v of this.s.views()) if (v.pid !== null) live.add(v.pid);
        const keep = currentSeries(routing(), memberHistograms());
        const parts = [await own.getMetricsAsJSON(), ...(await carry.parts(answered, live, keep))];
        return AggregatorRegistry.aggregate(
          parts as Parameters<typeof AggregatorRegistry.aggregate>[0],
        ).metrics();
      },
    };
  }
}
