// The composition root: one running shardgate instance. Loads the config, joins the fleet
// (a Raft cluster over the replicated cluster state; a one-member cluster when the config has
// no `cluster:` section), routes by the committed state (CommittedRouting, rebuilt per applied
// change and swapped by reference), starts the proxy listener and the admin API, and owns
// reload and shutdown. Nothing else in the process wires modules together.
//
// Routing is the committed config whatever the local file says. A reload validates the file
// and proposes its pools and routes (SetRouting), answering once committed; listen, admin,
// log, headers, cluster and discovery stay local. Drift between the file and the committed
// routing is a metric and a field of /admin/state.

import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type ConfigDrift, configDrift } from "../config/config-drift.js";
import { type ConfigError, formatConfigErrors } from "../config/config-error.js";
import { loadConfigFile } from "../config/load.js";
import type { ShardgateConfig } from "../config/schema.js";
import { createAdminServer } from "./admin/server.js";
import type {
  AdminError,
  AdminResult,
  BreakerOverrideRequest,
  BreakerView,
  DrainView,
  FaultView,
  ReloadView,
} from "./admin/types.js";
import { createAdminBackend } from "./app/admin-backend.js";
import { reportApplied } from "./app/applied-changes.js";
import { listenOn } from "./app/listen.js";
import { ClusterHooks } from "./cluster/cluster-hooks.js";
import { ClusterNode, CommandRejected } from "./cluster/cluster-node.js";
import { resolveClusterSettings } from "./cluster/cluster-settings.js";
import { CommittedRouting } from "./cluster/committed-routing.js";
import { OutcomeTracker } from "./cluster/outcome-tracker.js";
import { createDataPlane } from "./forward/data-plane.js";
import type { DataPlane } from "./forward/types.js";
import { createAccessLog } from "./logging/access-log.js";
import { createProcessLogger, type ProcessLogger } from "./logging/logger.js";
import { registerClusterMetrics } from "./metrics/cluster-metrics.js";
import { MetricsObserver } from "./metrics/observer.js";
import { createMetrics, type ShardgateMetrics } from "./metrics/registry.js";
import { SeriesCache } from "./metrics/series-cache.js";
import { createProxyServer } from "./server/proxy-server.js";

export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** How long a one-member cluster may take to elect itself and seed its state before listening. */
const SOLO_START_TIMEOUT_MS = 10_000;

export interface AppOptions {
  configPath: string;
  /** Environment for ${VAR} interpolation and SHARDGATE_* overrides (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where logs go: fd (default 1, stdout) or a file path. */
  logDestination?: number | string;
  /** How long shutdown waits for in-flight requests (default 10 s; no config key exists for it). */
  drainTimeoutMs?: number;
  /** Overrides cluster.id (flag --node-id). */
  nodeId?: string;
  /** Overrides cluster.dataDir (flag --data-dir). */
  dataDir?: string;
}

export type StartResult =
  | { ok: true; app: App }
  | { ok: false; kind: "config"; errors: ConfigError[]; text: string }
  | { ok: false; kind: "listen"; message: string };

export interface ReloadOutcome {
  ok: boolean;
  ringVersion: number;
  errors?: ConfigError[];
  restartRequired?: string[];
  /** Set when the file was valid but its routing could not be committed. */
  notCommitted?: string;
}

/** Config sections that are read once at start; a change in them is reported, not applied. */
const RESTART_ONLY: ReadonlyArray<keyof ShardgateConfig> = ["listen", "headers", "cluster", "discovery"];

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function hostPort(a: AddressInfo): string {
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Maps a failed proposal to an admin error: 404 for unknown pools/members, 503 without quorum. */
function proposalError(err: unknown): AdminError {
  const message = errorText(err);
  if (err instanceof CommandRejected || (err as { code?: string })?.code?.startsWith("HEALTH_UNKNOWN")) {
    const unknown = /unknown pool|has no member|no pool named|breaker disabled/.exec(message);
    if (unknown !== null) {
      const error = /has no member/.test(message)
        ? "unknown_member"
        : /breaker disabled/.test(message)
          ? "breaker_disabled"
          : "unknown_pool";
      return { status: error === "breaker_disabled" ? 409 : 404, error, message };
    }
    return { status: 400, error: "rejected", message };
  }
  return {
    status: 503,
    error: "not_committed",
    message: `the change could not be committed (no quorum or leader change); retry: ${message}`,
  };
}

export class App {
  /** "host:port" the proxy listener is bound to. */
  readonly httpAddress: string;
  /** "host:port" the admin API is bound to. */
  readonly adminAddress: string;
  private stopping: Promise<void> | undefined;
  private reloading: Promise<ReloadOutcome> = Promise.resolve({ ok: true, ringVersion: 0 });

  /** @internal use startApp */
  constructor(
    private config: ShardgateConfig,
    private readonly opts: AppOptions,
    private readonly log: ProcessLogger,
    private readonly metrics: ShardgateMetrics,
    readonly routing: CommittedRouting,
    readonly cluster: ClusterNode,
    private readonly observer: MetricsObserver,
    readonly dataPlane: DataPlane,
    private readonly proxyServer: Server,
    private readonly adminServer: Server,
  ) {
    this.httpAddress = hostPort(proxyServer.address() as AddressInfo);
    this.adminAddress = hostPort(adminServer.address() as AddressInfo);
  }

  get logger() {
    return this.log.logger;
  }

  /** Writes out buffered log lines (exit paths). */
  flushLogs(): void {
    this.log.flush();
  }

  get shuttingDown(): boolean {
    return this.stopping !== undefined;
  }

  adminToken(): string {
    return this.config.admin.token;
  }

  /** The local file's routing (what a reload proposes and what drift compares). */
  fileRouting(): Pick<ShardgateConfig, "pools" | "routes"> {
    return { pools: this.config.pools, routes: this.config.routes };
  }

  drift(): ConfigDrift {
    return configDrift(this.fileRouting(), this.cluster.state);
  }

  /**
   * Re-reads the config file. A valid file's routing is proposed to the cluster (SetRouting)
   * and the answer comes once it is committed; its local sections (log level, access log,
   * admin token) apply here at once. An invalid file is rejected with every error logged and
   * nothing changes. Reloads are serialized: SIGHUP and POST /admin/reload never overlap.
   */
  reload(trigger: string): Promise<ReloadOutcome> {
    const next = this.reloading.then(() => this.reloadNow(trigger));
    this.reloading = next.catch(() => ({ ok: false, ringVersion: this.routing.ringVersion }));
    return next;
  }

  private async reloadNow(trigger: string): Promise<ReloadOutcome> {
    const logger = this.log.logger;
    logger.info({ trigger, config: this.opts.configPath }, "reloading config");
    const result = await loadConfigFile(this.opts.configPath, this.opts.env ?? process.env);
    if (!result.ok) {
      this.metrics.configReloads.inc({ result: "failure" });
      logger.error(
        { trigger, errors: result.errors, ringVersion: this.routing.ringVersion },
        `config reload rejected, keeping the running config:\n${formatConfigErrors(result.errors, this.opts.configPath)}`,
      );
      return { ok: false, ringVersion: this.routing.ringVersion, errors: result.errors };
    }
    const next = result.config;
    // Build the routing once locally first: a schema-valid but unbuildable file (a ring over
    // its point limit) is refused here instead of being committed for the whole fleet.
    try {
      new CommittedRouting().applyProvisional(next);
    } catch (err) {
      this.metrics.configReloads.inc({ result: "failure" });
      const message = errorText(err);
      const errors: ConfigError[] = [
        { path: "pools", expected: "pools that can be built", found: message, message },
      ];
      logger.error({ trigger, err }, `config reload rejected, keeping the running config: ${message}`);
      return { ok: false, ringVersion: this.routing.ringVersion, errors };
    }
    const restartRequired = RESTART_ONLY.filter((k) => !same(this.config[k], next[k])).map(String);
    // Local sections apply now, whatever happens to the proposal.
    this.config = next;
    logger.level = next.log.level;
    this.observer.setAccessLog(createAccessLog(this.log.destination, next.log.accessLog));
    try {
      await this.cluster.proposeWithRetry({
        v: 1,
        type: "SetRouting",
        routing: { pools: next.pools, routes: next.routes },
      });
    } catch (err) {
      this.metrics.configReloads.inc({ result: "failure" });
      const message = errorText(err);
      logger.error(
        { trigger, err: message },
        "config reload: the file is valid but its routing was not committed",
      );
      return { ok: false, ringVersion: this.routing.ringVersion, restartRequired, notCommitted: message };
    }
    this.metrics.configReloads.inc({ result: "success" });
    logger.info(
      { trigger, ringVersion: this.routing.ringVersion, restartRequired },
      restartRequired.length === 0
        ? "config reloaded"
        : `config reloaded; changes to ${restartRequired.join(", ")} take effect only after a restart`,
    );
    return { ok: true, ringVersion: this.routing.ringVersion, restartRequired };
  }

  async reloadForAdmin(): Promise<AdminResult<ReloadView>> {
    const r = await this.reload("admin");
    if (r.ok)
      return { ok: true, value: { ringVersion: r.ringVersion, restartRequired: r.restartRequired ?? [] } };
    if (r.notCommitted !== undefined)
      return {
        ok: false,
        err: {
          status: 503,
          error: "not_committed",
          message: "the file is valid but the cluster did not commit its routing (no quorum?); retry",
          detail: { reason: r.notCommitted },
        },
      };
    return {
      ok: false,
      err: {
        status: 400,
        error: "invalid_config",
        message: "the config file is invalid; the running config was kept",
        detail: { errors: r.errors ?? [] },
      },
    };
  }

  private knownMember(pool: string, member: string): AdminError | null {
    const p = this.cluster.state.pools[pool];
    if (p === undefined) return { status: 404, error: "unknown_pool", message: `no pool named "${pool}"` };
    if (!p.members.some((m) => m.id === member))
      return { status: 404, error: "unknown_member", message: `pool "${pool}" has no member "${member}"` };
    return null;
  }

  /** Drain/undrain through the cluster; answers once committed, with the ring version. */
  async setDraining(pool: string, member: string, draining: boolean): Promise<AdminResult<DrainView>> {
    const unknown = this.knownMember(pool, member);
    if (unknown !== null) return { ok: false, err: unknown };
    try {
      await this.cluster.proposeWithRetry({ v: 1, type: draining ? "Drain" : "Undrain", pool, member });
    } catch (err) {
      return { ok: false, err: proposalError(err) };
    }
    const m = this.cluster.state.pools[pool]?.members.find((x) => x.id === member);
    return {
      ok: true,
      value: { pool, member, draining: m?.drained ?? draining, ringVersion: this.routing.ringVersion },
    };
  }

  /** Operator breaker override through the leader; answers once committed. */
  async setBreaker(
    pool: string,
    member: string,
    state: BreakerOverrideRequest,
  ): Promise<AdminResult<BreakerView>> {
    const unknown = this.knownMember(pool, member);
    if (unknown !== null) return { ok: false, err: unknown };
    if (!this.cluster.state.pools[pool]?.settings.breaker.enabled)
      return {
        ok: false,
        err: {
          status: 409,
          error: "breaker_disabled",
          message: `pool "${pool}" has its breaker disabled (breaker.enabled: false)`,
        },
      };
    try {
      await this.cluster.overrideBreaker(pool, member, state);
    } catch (err) {
      return { ok: false, err: proposalError(err) };
    }
    const m = this.cluster.state.pools[pool]?.members.find((x) => x.id === member);
    return {
      ok: true,
      value: {
        pool,
        member,
        breaker: m?.breaker.state ?? "closed",
        override: m?.breaker.override ?? "auto",
        ringVersion: this.routing.ringVersion,
      },
    };
  }

  fault(action: "cut" | "heal", peer: string | undefined): AdminResult<FaultView> {
    if (!this.cluster.settings.faultInjection)
      return {
        ok: false,
        err: {
          status: 403,
          error: "fault_injection_disabled",
          message: "fault injection is off: set cluster.faultInjection: true or SHARDGATE_FAULT_INJECTION=1",
        },
      };
    if (peer === this.cluster.settings.id)
      return {
        ok: false,
        err: { status: 400, error: "bad_request", message: "cannot cut this node from itself" },
      };
    const cut = action === "cut" ? this.cluster.cut(peer) : this.cluster.heal(peer);
    return { ok: true, value: { cut } };
  }

  /**
   * Stops accepting connections, lets in-flight requests finish up to the drain deadline, then
   * closes everything (the Raft node last). /readyz answers 503 from the first moment.
   * Idempotent: a second call returns the first call's promise.
   */
  shutdown(reason: string): Promise<void> {
    this.stopping ??= this.shutdownNow(reason);
    return this.stopping;
  }

  private async shutdownNow(reason: string): Promise<void> {
    const logger = this.log.logger;
    const deadlineMs = this.opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    const started = performance.now();
    logger.info(
      { reason, inFlight: this.dataPlane.inFlight(), drainTimeoutMs: deadlineMs },
      "shutting down: draining",
    );
    const closed = new Promise<void>((r) => this.proxyServer.close(() => r()));
    // Keep-alive connections that are between requests are closed at once, and again as
    // each in-flight response completes, so clients reconnect elsewhere instead of waiting.
    while (this.dataPlane.inFlight() > 0 && performance.now() - started < deadlineMs) {
      this.proxyServer.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 20));
    }
    const left = this.dataPlane.inFlight();
    if (left > 0)
      logger.warn({ inFlight: left, drainTimeoutMs: deadlineMs }, "drain deadline reached; cutting requests");
    this.proxyServer.closeAllConnections();
    this.dataPlane.close();
    // Upgraded (websocket) sockets are outside the server's connection tracking, so
    // closeAllConnections does not end them; the data plane's close cuts their upstream side,
    // but do not let one that lingers hold the exit.
    let lingering: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((r) => (lingering = setTimeout(r, 1_000)))]);
    clearTimeout(lingering);
    this.adminServer.closeAllConnections();
    await new Promise<void>((r) => this.adminServer.close(() => r()));
    await this.cluster
      .stop()
      .catch((err: unknown) => logger.warn({ err: errorText(err) }, "raft stop failed"));
    logger.info(
      { reason, drainedMs: Math.round(performance.now() - started), cut: left },
      "shutdown complete",
    );
    this.log.flush();
  }
}

function readTls(
  config: ShardgateConfig,
): { ok: true; value?: { cert: Buffer; key: Buffer } } | { ok: false; error: ConfigError } {
  const tls = config.listen.tls;
  if (tls === undefined) return { ok: true };
  try {
    return { ok: true, value: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } };
  } catch (err) {
    const message = `cannot read TLS file: ${errorText(err)}`;
    return {
      ok: false,
      error: { path: "listen.tls", expected: "readable PEM files", found: message, message },
    };
  }
}

function configFailure(path: string, message: string, configPath: string): StartResult {
  const errors: ConfigError[] = [{ path, expected: "a valid setting", found: message, message }];
  return { ok: false, kind: "config", errors, text: `${configPath}: ${path}: ${message}` };
}

/** Resolves once routing comes from a committed state, or after `ms` (false). */
function waitCommitted(routing: CommittedRouting, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  return new Promise((resolve) => {
    const check = () => {
      if (routing.applied) return resolve(true);
      if (performance.now() > end) return resolve(false);
      setTimeout(check, 10);
    };
    check();
  });
}

/**
 * Loads and validates the config, joins the cluster, then starts everything. Config errors
 * and a listen failure (port in use, permission) come back as values with a clear message;
 * nothing is left running.
 */
export async function startApp(opts: AppOptions): Promise<StartResult> {
  const env = opts.env ?? process.env;
  const loaded = await loadConfigFile(opts.configPath, env);
  if (!loaded.ok) {
    return {
      ok: false,
      kind: "config",
      errors: loaded.errors,
      text: formatConfigErrors(loaded.errors, opts.configPath),
    };
  }
  const config = loaded.config;
  const resolved = resolveClusterSettings(config, { nodeId: opts.nodeId, dataDir: opts.dataDir }, env);
  if (!resolved.ok) return configFailure("cluster", resolved.message, opts.configPath);
  const settings = resolved.settings;
  const log = createProcessLogger({ level: config.log.level, destination: opts.logDestination });
  const logger = log.logger;
  const metrics = createMetrics();
  const series = new SeriesCache(metrics);
  const outcomes = new OutcomeTracker();
  const routing = new CommittedRouting((snap) => outcomes.gateFor(snap));
  try {
    routing.applyProvisional(config);
  } catch (err) {
    return configFailure("pools", `pools that can be built: ${errorText(err)}`, opts.configPath);
  }
  let app: App | undefined;
  const fileRouting = () => app?.fileRouting() ?? { pools: config.pools, routes: config.routes };
  let drift = configDrift(fileRouting(), null);
  const clusterLog = logger.child({ component: "cluster" });
  const node = new ClusterNode({
    settings,
    logger: clusterLog,
    fileRouting,
    agent: config.discovery.consul,
    outcomes,
    flushLogs: () => log.flush(),
    onApplied(change, before, after) {
      if (change !== null && !change.applied) {
        clusterLog.warn(
          { index: change.index, type: change.type, error: change.error },
          "committed command rejected",
        );
        return;
      }
      if (
        change !== null &&
        change.poolsChanged.length === 0 &&
        change.removedPools.length === 0 &&
        !change.routesChanged &&
        after.routing === before.routing
      )
        return;
      const r = routing.apply(
        after,
        change === null ? "all" : change.poolsChanged,
        change?.routesChanged ?? true,
      );
      reportApplied(logger, metrics, series, change, before, after, r);
      if (change === null || change.type === "SetRouting") drift = configDrift(fileRouting(), after);
      for (const w of change?.warnings ?? []) clusterLog.warn({ index: change?.index }, w);
    },
    onPanic(pool, panic) {
      clusterLog[panic ? "warn" : "info"](
        { pool, panic },
        panic ? "pool in healthy panic" : "pool left healthy panic",
      );
    },
  });
  registerClusterMetrics(metrics.registry, {
    raft() {
      try {
        const s = node.driver.status();
        return {
          term: s.term,
          isLeader: s.role === "leader",
          commitIndex: s.commitIndex,
          appliedIndex: s.appliedIndex,
        };
      } catch {
        return undefined;
      }
    },
    transportRejected: () => node.transportRejected(),
    appMessagesRejected: () => node.appMessagesRejected(),
    drift: () => (app === undefined ? drift.drift : app.drift().drift),
    panics: () => node.panics,
    *breakers() {
      for (const [pool, p] of Object.entries(node.state.pools))
        for (const m of p.members)
          yield {
            pool,
            member: m.id,
            state: m.breaker.state === "open" ? 2 : m.breaker.state === "half-open" ? 1 : 0,
          };
    },
  });

  const observer = new MetricsObserver(series, createAccessLog(log.destination, config.log.accessLog));
  metrics.inFlightSource = () => observer.inFlightByPool();
  const dataPlane = createDataPlane({
    getState: routing.current,
    hooks: new ClusterHooks(observer, outcomes),
    logger: logger.child({ component: "proxy" }),
    options: {
      memberHeader: config.headers.memberHeader,
      ringVersionHeader: config.headers.ringVersionHeader,
    },
  });
  const tls = readTls(config);
  if (!tls.ok)
    return {
      ok: false,
      kind: "config",
      errors: [tls.error],
      text: `${opts.configPath}: ${tls.error.message}`,
    };
  const proxyServer = createProxyServer({
    dataPlane,
    logger: logger.child({ component: "listener" }),
    listen: { timeouts: config.listen.timeouts, maxHeaderSize: config.listen.maxHeaderSize },
    // Codes come from the listener's fixed set, so the label stays bounded.
    onClientError: (code) => metrics.clientErrors.inc({ code }),
    tls: tls.value,
  });
  const starting = { status: 503, error: "starting", message: "not started yet" };
  const adminServer = createAdminServer({
    logger,
    backend: createAdminBackend({
      routing,
      dataPlane,
      registry: metrics.registry,
      adminToken: () => app?.adminToken() ?? config.admin.token,
      shuttingDown: () => app?.shuttingDown ?? false,
      reload: () =>
        app === undefined ? Promise.resolve({ ok: false, err: starting }) : app.reloadForAdmin(),
      setDraining: (pool, member, draining) =>
        app === undefined
          ? Promise.resolve({ ok: false, err: starting })
          : app.setDraining(pool, member, draining),
      setBreaker: (pool, member, state) =>
        app === undefined
          ? Promise.resolve({ ok: false, err: starting })
          : app.setBreaker(pool, member, state),
      fault: (action, peer) => (app === undefined ? { ok: false, err: starting } : app.fault(action, peer)),
      raft: () => {
        try {
          return node.raftView();
        } catch {
          return undefined;
        }
      },
      drift: () => (app === undefined ? drift : app.drift()),
      degraded: () => node.degradedReason(),
      panicPools: () => [...node.panics].filter(([, p]) => p).map(([pool]) => pool),
    }),
  });

  try {
    await node.start();
  } catch (err) {
    dataPlane.close();
    await node.stop().catch(() => undefined);
    return {
      ok: false,
      kind: "listen",
      message: `cluster: cannot start the Raft node (listen ${settings.listen.host}:${settings.listen.port}, data ${settings.dataDir}): ${errorText(err)}`,
    };
  }
  // A one-member cluster elects itself at once: wait for it so that the first request
  // already routes on the committed state. Members of a larger fleet do not wait for quorum.
  if (settings.voters.length === 1 && settings.voters[0] === settings.id) {
    if (!(await waitCommitted(routing, SOLO_START_TIMEOUT_MS)))
      logger.warn({ node: settings.id }, "no committed state yet; routing provisionally on the file");
  }
  const stopAll = async () => {
    dataPlane.close();
    await node.stop().catch(() => undefined);
  };
  const l1 = await listenOn(proxyServer, config.listen.http, "listen.http");
  if (!l1.ok) {
    await stopAll();
    return { ok: false, kind: "listen", message: l1.message };
  }
  const l2 = await listenOn(adminServer, config.listen.admin, "listen.admin");
  if (!l2.ok) {
    proxyServer.close();
    await stopAll();
    return { ok: false, kind: "listen", message: l2.message };
  }
  app = new App(config, opts, log, metrics, routing, node, observer, dataPlane, proxyServer, adminServer);
  drift = app.drift();
  logger.info(
    {
      http: app.httpAddress,
      admin: app.adminAddress,
      tls: config.listen.tls !== undefined,
      pools: Object.keys(config.pools),
      routes: config.routes.length,
      ringVersion: routing.ringVersion,
      adminWrites: config.admin.token !== "",
      node: settings.id,
      raft: node.driver.peerAddresses()[settings.id] ?? `${settings.listen.host}:${settings.listen.port}`,
      voters: settings.voters,
      dataDir: settings.ephemeral ? "(temporary)" : settings.dataDir,
    },
    "listening",
  );
  return { ok: true, app };
}
