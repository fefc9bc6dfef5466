// Leader-side membership controller: for every committed pool with `discovery.consul` or
// `discovery.kubernetes`, one watcher (Consul health or EndpointSlices); each burst of watcher
// updates is collapsed (debounce with a max delay) and
// then diffed against the committed pool into at most one SetMembers or SetHealth command,
// behind the healthy-panic guard. Only the Raft leader runs it: start() on becoming leader
// (the view is rebuilt from the committed state and fresh watchers), stop() on losing it.
//
// It knows nothing about Raft or HTTP: commands go to an injected propose(), the committed
// state comes from an injected accessor, time from an injected clock.

import type { LookupFunction } from "node:net";
import { errorWithCode } from "../config/coded-error.js";
import {
  type ConsulAgentConfig,
  consulAgentSchema,
  DEFAULT_DISCOVERY_DEBOUNCE_MS,
  MAX_DISCOVERY_DEBOUNCE_MS,
} from "../config/file/schema.js";
import type { PoolSettings, PoolState } from "../config/state/types.js";
import type { DiscoveredMember } from "./consul-members.js";
import { ConsulWatcher, type ConsulWatcherOptions, type WatcherStatus } from "./consul-watcher.js";
import { errorText, numberOption } from "./controller/deps.js";
import { LeaderController, type LeaderControllerOptions } from "./controller/leader-controller.js";
import { ProposalCycle } from "./controller/proposal-cycle.js";
import {
  KubernetesWatcher,
  type KubernetesWatcherOptions,
  type KubernetesWatcherStatus,
} from "./kubernetes-watcher.js";
import { kubernetesWatcherOptions } from "./membership/kubernetes-options.js";
import { type DiscoverySource, type MembershipPlan, planMembership } from "./membership/membership-plan.js";
import { consulWatcherOptions } from "./membership/watcher-options.js";
import { logWarnings } from "./warning-summary.js";
import type { ResyncReason } from "./watch-loop.js";

export type { ControllerClock, GetState, Propose } from "./controller/deps.js";

/** A Consul or a Kubernetes watcher's status; `synced` is what the controller reads. */
export type DiscoveryWatcherStatus = WatcherStatus | KubernetesWatcherStatus;

/** What the controller reads of an `update` event (both watchers' payloads have these). */
export interface WatcherUpdate {
  readonly service: string;
  readonly ageMs?: number;
}

/** What the controller needs from a watcher; ConsulWatcher and KubernetesWatcher are two. */
export interface MemberWatcher {
  start(): void;
  stop(): Promise<void>;
  members(): readonly DiscoveredMember[];
  status(): DiscoveryWatcherStatus;
  /**
   * The controller only needs to know that something changed, and optionally how long ago
   * the answer carrying it arrived (`ageMs`, ConsulWatcher's MembershipUpdate); the rest of the
   * payload differs per source.
   */
  on(event: "update", listener: (update?: WatcherUpdate) => void): unknown;
}

/** Builds the watcher for one pool from options the controller derived from the config. */
export type WatcherFactory = (pool: string, options: ConsulWatcherOptions) => MemberWatcher;
export type KubernetesWatcherFactory = (pool: string, options: KubernetesWatcherOptions) => MemberWatcher;

export interface MembershipControllerOptions extends LeaderControllerOptions {
  /** This instance's `discovery.consul` section as the schema produced it (default: the schema's defaults). */
  agent?: ConsulAgentConfig;
  /** Default: `new ConsulWatcher(options)`. */
  watcherFactory?: WatcherFactory;
  /** Default: `new KubernetesWatcher(options)`. */
  kubernetesWatcherFactory?: KubernetesWatcherFactory;
  /**
   * Quiet time after the last watcher update before proposing (`discovery.debounce`, default
   * 200 ms), counted from the arrival of the answer that carried it when the watcher says (`ageMs`).
   */
  debounceMs?: number;
  /** A pool with steady churn still proposes this long after its first pending update (default 500 ms). */
  maxDelayMs?: number;
  /** Fraction of a pool that must stay healthy before health flips are held back (default 0.5; 0 = off). */
  panicThreshold?: number;
  /** First retry delay after a failed proposal (default 250 ms), doubling up to retryMaxMs (default 5000 ms). */
  retryMs?: number;
  retryMaxMs?: number;
  /** Called when a pool enters or leaves panic (for an alert metric). */
  onPanic?: (pool: string, status: PoolMembershipStatus) => void;
  /** The watchers' hostname lookup (WatchLoopOptions.lookup; default Node's). */
  lookup?: LookupFunction;
  /** Called once per failed watcher request (the discovery error metric). */
  onWatcherError?: (pool: string, source: DiscoverySource) => void;
  /** Called when a watcher started over (index reset, 410 Gone): the discovery resync metric. */
  onWatcherResync?: (pool: string, source: DiscoverySource, reason: ResyncReason) => void;
}

export interface PoolMembershipStatus {
  readonly pool: string;
  readonly service: string;
  /** The panic guard is holding back unhealthy flips for this pool. */
  readonly panic: boolean;
  /** Members that would be healthy if discovery were applied unguarded, and the pool's size. */
  readonly wouldBeHealthy: number;
  readonly total: number;
  /** Members the guard keeps healthy right now. */
  readonly suppressed: readonly string[];
  /** An update is waiting for its debounce window or for a proposal in flight. */
  readonly pending: boolean;
  readonly proposals: number;
  readonly failedProposals: number;
  readonly lastProposalError: string | undefined;
  /**
   * Monotonic ms from the first update of a burst (the arrival of the answer that carried it,
   * when the watcher says) to its command being committed, last burst.
   */
  readonly lastLatencyMs: number | undefined;
  /** Discovered members that cannot be committed, with the reason. */
  readonly skipped: readonly string[];
  /** Where members come from. */
  readonly source: DiscoverySource;
  /** The watcher's status (Consul or API server errors show here), or undefined if it could not be built. */
  readonly watcher: DiscoveryWatcherStatus | undefined;
  readonly watcherError: string | undefined;
}

interface PoolWatch {
  readonly pool: string;
  readonly service: string;
  readonly source: DiscoverySource;
  readonly key: string;
  readonly watcher: MemberWatcher | undefined;
  readonly watcherError: string | undefined;
  readonly cycle: ProposalCycle;
  /** Monotonic ms of the first update not yet proposed, or undefined. */
  firstPendingAt: number | undefined;
  lastLatencyMs: number | undefined;
  panic: boolean;
  wouldBeHealthy: number;
  total: number;
  suppressed: readonly string[];
  skipped: readonly string[];
  skippedKey: string;
  lastPool: PoolState | undefined;
  /**
   * The plan made when the last update arrived, and the committed pool it was made against:
   * the window's end proposes it without planning again (a pass over the whole view) unless
   * the committed pool changed meanwhile. Another update replaces it.
   */
  prepared: { readonly pool: PoolState; readonly plan: MembershipPlan } | undefined;
}

const defaultFactory: WatcherFactory = (_pool, options) => new ConsulWatcher(options);
const defaultKubernetesFactory: KubernetesWatcherFactory = (_pool, options) => new KubernetesWatcher(options);

type PoolDiscovery = NonNullable<PoolSettings["discovery"]>;

export class MembershipController extends LeaderController {
  private readonly agent: ConsulAgentConfig;
  private readonly factory: WatcherFactory;
  private readonly kubernetesFactory: KubernetesWatcherFactory;
  private readonly lookup: LookupFunction | undefined;
  private readonly onWatcherError: ((pool: string, source: DiscoverySource) => void) | undefined;
  private readonly onWatcherResync: MembershipControllerOptions["onWatcherResync"];
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;
  private readonly panicThreshold: number;
  private readonly retryMs: number;
  private readonly retryMaxMs: number;
  private readonly onPanic: ((pool: string, status: PoolMembershipStatus) => void) | undefined;
  private readonly pools = new Map<string, PoolWatch>();

  constructor(opts: MembershipControllerOptions) {
    const what = "membership controller";
    super(what, opts);
    this.agent = opts.agent ?? consulAgentSchema.parse({});
    this.factory = opts.watcherFactory ?? defaultFactory;
    this.kubernetesFactory = opts.kubernetesWatcherFactory ?? defaultKubernetesFactory;
    this.lookup = opts.lookup;
    this.onWatcherError = opts.onWatcherError;
    this.onWatcherResync = opts.onWatcherResync;
    this.debounceMs = numberOption(
      what,
      "debounceMs",
      opts.debounceMs,
      DEFAULT_DISCOVERY_DEBOUNCE_MS,
      0,
      MAX_DISCOVERY_DEBOUNCE_MS,
    );
    this.maxDelayMs = numberOption(
      what,
      "maxDelayMs",
      opts.maxDelayMs,
      Math.max(500, this.debounceMs),
      this.debounceMs,
      600_000,
    );
    this.panicThreshold = numberOption(what, "panicThreshold", opts.panicThreshold, 0.5, 0, 1);
    this.retryMs = numberOption(what, "retryMs", opts.retryMs, 250, 1, 600_000);
    this.retryMaxMs = numberOption(
      what,
      "retryMaxMs",
      opts.retryMaxMs,
      Math.max(5000, this.retryMs),
      this.retryMs,
      3_600_000,
    );
    this.onPanic = opts.onPanic;
  }

  /** Becoming leader: builds a watcher per discovery pool of the committed state. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.refresh();
  }

  /** Losing leadership: stops every watcher and timer; in-flight proposals are ignored when they settle. */
  async stop(): Promise<void> {
    this.running = false;
    const stops: Promise<void>[] = [];
    for (const w of this.pools.values()) stops.push(this.close(w));
    this.pools.clear();
    await Promise.all(stops);
  }

  /**
   * Reconciles with the committed state; the wiring calls it after every applied command
   * that changed pools (StateChange.poolsChanged/addedPools/removedPools). New Consul pools
   * get a watcher, removed ones lose theirs, changed discovery settings rebuild it, and a
   * pool whose committed members changed under us is re-diffed.
   */
  refresh(): void {
    if (!this.running) return;
    const state = this.getState();
    for (const [name, w] of this.pools) {
      const discovery = state.pools[name]?.settings.discovery;
      if (discovery === undefined || this.keyOf(discovery) !== w.key) {
        this.pools.delete(name);
        void this.close(w);
      }
    }
    for (const name of Object.keys(state.pools)) {
      const pool = state.pools[name];
      const discovery = pool.settings.discovery;
      if (discovery === undefined) continue;
      const w = this.pools.get(name);
      if (w === undefined) this.open(name, discovery);
      // While a proposal is in flight its settling decides (flush): the entry applied may be
      // that proposal's own, whose committed pool needs no second look.
      else if (w.lastPool !== pool && !w.cycle.inFlight && w.watcher?.status().synced) this.touch(w);
    }
  }

  status(): Record<string, PoolMembershipStatus> {
    const out: Record<string, PoolMembershipStatus> = {};
    for (const w of this.pools.values()) out[w.pool] = this.statusOf(w);
    return out;
  }

  private statusOf(w: PoolWatch): PoolMembershipStatus {
    return {
      pool: w.pool,
      service: w.service,
      panic: w.panic,
      wouldBeHealthy: w.wouldBeHealthy,
      total: w.total,
      suppressed: w.suppressed,
      pending: w.firstPendingAt !== undefined || w.cycle.inFlight,
      proposals: w.cycle.proposals,
      failedProposals: w.cycle.failedProposals,
      lastProposalError: w.cycle.lastError,
      lastLatencyMs: w.lastLatencyMs,
      skipped: w.skipped,
      source: w.source,
      watcher: w.watcher?.status(),
      watcherError: w.watcherError,
    };
  }

  private keyOf(discovery: PoolDiscovery): string {
    return JSON.stringify(discovery);
  }

  private open(pool: string, discovery: PoolDiscovery): void {
    let watcher: MemberWatcher | undefined;
    let watcherError: string | undefined;
    const k8s = discovery.kubernetes;
    const source: DiscoverySource = k8s !== undefined ? "kubernetes" : "consul";
    const service = k8s !== undefined ? `${k8s.namespace}/${k8s.service}` : (discovery.consul?.service ?? "");
    try {
      // With this controller's logger: a watcher's own lines (the first failure of a streak,
      // its recovery, a 410 re-list) are what tells an operator that discovery is down.
      const logger = this.log;
      const onError = this.onWatcherError;
      const onResync = this.onWatcherResync;
      const io = {
        logger,
        lookup: this.lookup,
        onRequestError: onError === undefined ? undefined : () => onError(pool, source),
        onResync: onResync === undefined ? undefined : (why: ResyncReason) => onResync(pool, source, why),
      };
      if (k8s !== undefined)
        watcher = this.kubernetesFactory(pool, { ...kubernetesWatcherOptions(k8s), ...io });
      else if (discovery.consul !== undefined)
        watcher = this.factory(pool, { ...consulWatcherOptions(this.agent, discovery.consul), ...io });
    } catch (err) {
      // The code too (HEALTH_KUBECONFIG_MISSING ...): the status is all an operator sees.
      watcherError = errorWithCode(err);
      this.log.error({ pool, service, source, err: watcherError }, `cannot watch ${source} service`);
    }
    const w: PoolWatch = {
      pool,
      service,
      source,
      key: this.keyOf(discovery),
      watcher,
      watcherError,
      cycle: new ProposalCycle(this.clock, () => void this.flush(w)),
      firstPendingAt: undefined,
      lastLatencyMs: undefined,
      panic: false,
      wouldBeHealthy: 0,
      total: 0,
      suppressed: [],
      skipped: [],
      skippedKey: "",
      lastPool: undefined,
      prepared: undefined,
    };
    this.pools.set(pool, w);
    if (watcher === undefined) return;
    watcher.on("update", (update) => {
      if (w.cycle.closed) return;
      this.touch(w, update?.ageMs);
      this.prepare(w);
    });
    try {
      watcher.start();
    } catch (err) {
      this.log.error({ pool, err: errorText(err) }, `${source} watcher failed to start`);
    }
  }

  private async close(w: PoolWatch): Promise<void> {
    w.cycle.close();
    if (w.panic) this.setPanic(w, false, "watch stopped");
    try {
      await w.watcher?.stop();
    } catch (err) {
      this.log.warn({ pool: w.pool, err: errorText(err) }, `${w.source} watcher did not stop cleanly`);
    }
  }

  /**
   * Something changed: (re)arm the debounce, bounded by maxDelay since the first pending update.
   * `ageMs` is how long ago the answer that carried the change arrived (a Consul answer of
   * 3,000 instances takes ms to read and decode): the window counts from then, so that work
   * overlaps the window instead of being added to it.
   */
  private touch(w: PoolWatch, ageMs?: number): void {
    const cycle = w.cycle;
    if (cycle.closed) return;
    const now = this.clock.now();
    const age = ageMs !== undefined && ageMs > 0 ? Math.min(ageMs, this.debounceMs) : 0;
    if (w.firstPendingAt === undefined) w.firstPendingAt = now - age;
    if (cycle.inFlight) {
      cycle.again = true;
      return;
    }
    cycle.arm(Math.min(this.debounceMs - age, w.firstPendingAt + this.maxDelayMs - now));
  }

  /**
   * Plans the watcher's new view while the debounce window runs, so that the window's end
   * only proposes. Nothing is decided here: flush() checks the plan is still current.
   */
  private prepare(w: PoolWatch): void {
    w.prepared = undefined;
    const pool = this.getState().pools[w.pool];
    if (pool === undefined || w.watcher === undefined || !w.watcher.status().synced) return;
    try {
      const plan = planMembership(w.pool, pool, w.watcher.members(), this.panicThreshold, w.source);
      w.prepared = { pool, plan };
    } catch (err) {
      // flush() plans again and reports what goes wrong there.
      this.log.debug({ pool: w.pool, err: errorText(err) }, "membership plan ahead failed");
    }
  }

  private async flush(w: PoolWatch): Promise<void> {
    const cycle = w.cycle;
    if (cycle.closed || w.watcher === undefined) return;
    if (cycle.inFlight) {
      cycle.again = true;
      return;
    }
    const base = this.getState();
    const pool = base.pools[w.pool];
    // Until the first answer the view is empty, and proposing it would empty the pool.
    if (pool === undefined || !w.watcher.status().synced) return;
    w.lastPool = pool;
    // Planned when the update arrived, against this very committed pool: still current (a
    // newer update would have replaced it). Used once: a later flush (a retry, a foreign
    // entry) plans again.
    const prepared = w.prepared;
    w.prepared = undefined;
    const plan =
      prepared !== undefined && prepared.pool === pool
        ? prepared.plan
        : planMembership(w.pool, pool, w.watcher.members(), this.panicThreshold, w.source);
    w.wouldBeHealthy = plan.wouldBeHealthy;
    w.total = plan.total;
    w.suppressed = plan.suppressed;
    const skippedKey = plan.skipped.join("\n");
    if (skippedKey !== w.skippedKey) {
      logWarnings(
        this.log,
        { pool: w.pool, service: w.service },
        `${w.source} members skipped`,
        plan.skipped,
        `${w.source} member skipped: `,
      );
      w.skippedKey = skippedKey;
      w.skipped = plan.skipped;
    }
    if (plan.panic !== w.panic) {
      this.setPanic(w, plan.panic, plan.panic ? "too few healthy members" : "enough healthy members again");
    }
    const firstPendingAt = w.firstPendingAt;
    if (plan.command === undefined) {
      w.firstPendingAt = undefined;
      return;
    }
    const ok = await cycle.propose(this.propose, plan.command);
    if (!ok) {
      this.log.warn(
        { pool: w.pool, type: plan.command.type, failures: cycle.failures, err: cycle.lastError },
        "membership proposal failed; will retry",
      );
    }
    if (cycle.closed) return;
    if (ok) {
      if (firstPendingAt !== undefined) w.lastLatencyMs = this.clock.now() - firstPendingAt;
      this.log.info(
        { pool: w.pool, type: plan.command.type, latencyMs: w.lastLatencyMs },
        "membership change committed",
      );
      w.firstPendingAt = undefined;
      // One entry applied since the plan, and the proposal is applied: it was that entry, so
      // the committed pool is the plan's result and needs no second flush. Anything else
      // applied meanwhile (a reload, another leader's command) is diffed again.
      const now = this.getState();
      if (now.appliedIndex === base.appliedIndex + 1) w.lastPool = now.pools[w.pool];
      if (cycle.again || w.lastPool !== now.pools[w.pool]) this.touch(w);
      return;
    }
    // Recompute from the committed state on retry: whatever did commit is not proposed twice.
    cycle.arm(cycle.retryDelay(this.retryMs, this.retryMaxMs));
  }

  private setPanic(w: PoolWatch, panic: boolean, why: string): void {
    w.panic = panic;
    const fields = {
      pool: w.pool,
      service: w.service,
      wouldBeHealthy: w.wouldBeHealthy,
      total: w.total,
      threshold: this.panicThreshold,
    };
    if (panic)
      this.log.error(
        { ...fields, suppressed: w.suppressed },
        `membership panic: ${why}; keeping committed-healthy members routable`,
      );
    else this.log.info(fields, `membership panic over: ${why}`);
    try {
      this.onPanic?.(w.pool, this.statusOf(w));
    } catch (err) {
      this.log.warn({ pool: w.pool, err: errorText(err) }, "onPanic callback threw");
    }
  }
}
