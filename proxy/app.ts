// The composition root: one running shardgate instance. Loads the config, applies it to the
// RuntimeState (which produces the RoutingState the data plane reads), starts the proxy
// listener, the admin API and the active health checks, and owns reload and shutdown.
// Nothing else in the process wires modules together.

import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type ConfigError, formatConfigErrors } from "../config/config-error.js";
import { loadConfigFile } from "../config/load.js";
import type { ShardgateConfig } from "../config/schema.js";
import { createAdminServer } from "./admin/server.js";
import type { AdminResult, DrainView, ReloadView } from "./admin/types.js";
import { createAdminBackend } from "./app/admin-backend.js";
import { HealthChecks } from "./app/health-checks.js";
import { listenOn } from "./app/listen.js";
import { type AppliedChange, RuntimeState } from "./app/runtime-state.js";
import { createDataPlane } from "./forward/data-plane.js";
import type { DataPlane } from "./forward/types.js";
import { createAccessLog } from "./logging/access-log.js";
import { createProcessLogger, type ProcessLogger } from "./logging/logger.js";
import { MetricsObserver } from "./metrics/observer.js";
import { createMetrics, type ShardgateMetrics } from "./metrics/registry.js";
import { tableStats } from "./metrics/ring-stats.js";
import { SeriesCache } from "./metrics/series-cache.js";
import { createProxyServer } from "./server/proxy-server.js";

export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export interface AppOptions {
  configPath: string;
  /** Environment for ${VAR} interpolation (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where logs go: fd (default 1, stdout) or a file path. */
  logDestination?: number | string;
  /** How long shutdown waits for in-flight requests (default 10 s; no config key exists for it). */
  drainTimeoutMs?: number;
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
}

/** Config sections that are read once at start; a change in them is reported, not applied. */
const RESTART_ONLY: ReadonlyArray<keyof ShardgateConfig> = ["listen", "headers", "cluster", "discovery"];

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function hostPort(a: AddressInfo): string {
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
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
    readonly runtime: RuntimeState,
    private readonly observer: MetricsObserver,
    readonly dataPlane: DataPlane,
    private readonly proxyServer: Server,
    private readonly adminServer: Server,
    private readonly checks: HealthChecks,
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

  /**
   * Re-reads the config file. A valid file is applied (new snapshots swapped in; requests in
   * flight finish on the old ones); an invalid one is rejected with every error logged and the
   * old config keeps serving. Reloads are serialized: SIGHUP and POST /admin/reload never overlap.
   */
  reload(trigger: string): Promise<ReloadOutcome> {
    const next = this.reloading.then(() => this.reloadNow(trigger));
    this.reloading = next.catch(() => ({ ok: false, ringVersion: this.runtime.ringVersion }));
    return next;
  }

  private async reloadNow(trigger: string): Promise<ReloadOutcome> {
    const logger = this.log.logger;
    logger.info({ trigger, config: this.opts.configPath }, "reloading config");
    const result = await loadConfigFile(this.opts.configPath, this.opts.env ?? process.env);
    if (!result.ok) {
      this.metrics.configReloads.inc({ result: "failure" });
      logger.error(
        { trigger, errors: result.errors, ringVersion: this.runtime.ringVersion },
        `config reload rejected, keeping the running config:\n${formatConfigErrors(result.errors, this.opts.configPath)}`,
      );
      return { ok: false, ringVersion: this.runtime.ringVersion, errors: result.errors };
    }
    const next = result.config;
    try {
      this.runtime.applyConfig({ pools: next.pools, routes: next.routes });
    } catch (err) {
      // Schema-valid but unbuildable (e.g. a ring over its point limit): same as invalid.
      this.metrics.configReloads.inc({ result: "failure" });
      const message = err instanceof Error ? err.message : String(err);
      const errors: ConfigError[] = [
        { path: "pools", expected: "pools that can be built", found: message, message },
      ];
      logger.error({ trigger, err }, `config reload rejected, keeping the running config: ${message}`);
      return { ok: false, ringVersion: this.runtime.ringVersion, errors };
    }
    const restartRequired = RESTART_ONLY.filter((k) => !same(this.config[k], next[k])).map(String);
    this.config = next;
    logger.level = next.log.level;
    this.observer.setAccessLog(createAccessLog(logger, next.log.accessLog));
    this.checks.sync(next.pools);
    this.metrics.configReloads.inc({ result: "success" });
    logger.info(
      { trigger, ringVersion: this.runtime.ringVersion, restartRequired },
      restartRequired.length === 0
        ? "config reloaded"
        : `config reloaded; changes to ${restartRequired.join(", ")} take effect only after a restart`,
    );
    return { ok: true, ringVersion: this.runtime.ringVersion, restartRequired };
  }

  async reloadForAdmin(): Promise<AdminResult<ReloadView>> {
    const r = await this.reload("admin");
    if (r.ok)
      return { ok: true, value: { ringVersion: r.ringVersion, restartRequired: r.restartRequired ?? [] } };
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

  setDraining(pool: string, member: string, draining: boolean): AdminResult<DrainView> {
    const r = this.runtime.applyDrain(pool, member, draining);
    if (!r.ok) return { ok: false, err: { status: 404, error: r.error, message: r.message } };
    if (r.changed)
      this.log.logger.info(
        { pool, member, draining, ringVersion: r.state.ringVersion },
        "member drain changed",
      );
    return { ok: true, value: { pool, member, draining, ringVersion: this.runtime.ringVersion } };
  }

  /**
   * Stops accepting connections, lets in-flight requests finish up to the drain deadline, then
   * closes everything. /readyz answers 503 from the first moment so load balancers move away.
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
    this.checks.stopAll();
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
    const message = `cannot read TLS file: ${err instanceof Error ? err.message : String(err)}`;
    return {
      ok: false,
      error: { path: "listen.tls", expected: "readable PEM files", found: message, message },
    };
  }
}

/** Keeps metrics and health checks in step with every applied change. */
function onApplied(metrics: ShardgateMetrics, series: SeriesCache, change: AppliedChange): void {
  metrics.ringVersion.set(change.state.ringVersion);
  for (const pool of change.removedPools) series.removePool(pool);
  for (const name of change.rebuiltPools) {
    const snap = change.state.pools.get(name);
    if (snap === undefined) continue;
    if (change.cause === "config")
      series.syncMembers(
        name,
        snap.members.map((m) => m.id),
      );
    const ps = series.pool(name);
    for (const m of snap.members) ps.member(m.id).setFlags(m.healthy, m.draining);
    const stats = tableStats(snap.table);
    metrics.ringPoints.set({ pool: name }, stats.size);
    metrics.ringMemberPointsMin.set({ pool: name }, stats.minPerMember);
    metrics.ringMemberPointsMax.set({ pool: name }, stats.maxPerMember);
  }
}

/**
 * Loads and validates the config, then starts everything. Config errors and a listen failure
 * (port in use, permission) come back as values with a clear message; nothing is left running.
 */
export async function startApp(opts: AppOptions): Promise<StartResult> {
  const loaded = await loadConfigFile(opts.configPath, opts.env ?? process.env);
  if (!loaded.ok) {
    return {
      ok: false,
      kind: "config",
      errors: loaded.errors,
      text: formatConfigErrors(loaded.errors, opts.configPath),
    };
  }
  const config = loaded.config;
  const log = createProcessLogger({ level: config.log.level, destination: opts.logDestination });
  const logger = log.logger;
  const metrics = createMetrics();
  const series = new SeriesCache(metrics);
  const runtime = new RuntimeState((err) => logger.error({ err }, "state listener failed"));
  runtime.onApply((change) => onApplied(metrics, series, change));
  try {
    runtime.applyConfig({ pools: config.pools, routes: config.routes });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const errors: ConfigError[] = [
      { path: "pools", expected: "pools that can be built", found: message, message },
    ];
    return { ok: false, kind: "config", errors, text: `${opts.configPath}: pools: ${message}` };
  }
  const observer = new MetricsObserver(series, createAccessLog(logger, config.log.accessLog));
  metrics.inFlightSource = () => observer.inFlightByPool();
  const dataPlane = createDataPlane({
    getState: runtime.current,
    hooks: observer,
    logger: logger.child({ component: "proxy" }),
    options: {
      memberHeader: config.headers.memberHeader,
      ringVersionHeader: config.headers.ringVersionHeader,
    },
  });
  const healthLog = logger.child({ component: "health" });
  const checks = new HealthChecks(
    (pool, member, healthy, reason) => {
      const r = runtime.applyHealth(pool, member, healthy);
      if (!r.ok || !r.changed) return;
      series
        .pool(pool)
        .member(member)
        .healthTransitions(healthy ? "healthy" : "unhealthy")
        .inc();
      const fields = { pool, member, healthy, reason, ringVersion: r.state.ringVersion };
      if (healthy) healthLog.info(fields, "member healthy");
      else healthLog.warn(fields, "member unhealthy");
    },
    (msg) => healthLog.warn(msg),
  );

  let app: App | undefined;
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
  const adminServer = createAdminServer({
    logger,
    backend: createAdminBackend({
      runtime,
      dataPlane,
      registry: metrics.registry,
      adminToken: () => app?.adminToken() ?? config.admin.token,
      shuttingDown: () => app?.shuttingDown ?? false,
      reload: () =>
        app === undefined
          ? Promise.resolve({
              ok: false,
              err: { status: 503, error: "starting", message: "not started yet" },
            })
          : app.reloadForAdmin(),
      setDraining: (pool, member, draining) =>
        app === undefined
          ? { ok: false, err: { status: 503, error: "starting", message: "not started yet" } }
          : app.setDraining(pool, member, draining),
    }),
  });

  const l1 = await listenOn(proxyServer, config.listen.http, "listen.http");
  if (!l1.ok) {
    dataPlane.close();
    return { ok: false, kind: "listen", message: l1.message };
  }
  const l2 = await listenOn(adminServer, config.listen.admin, "listen.admin");
  if (!l2.ok) {
    proxyServer.close();
    dataPlane.close();
    return { ok: false, kind: "listen", message: l2.message };
  }
  app = new App(config, opts, log, metrics, runtime, observer, dataPlane, proxyServer, adminServer, checks);
  checks.sync(config.pools);
  logger.info(
    {
      http: app.httpAddress,
      admin: app.adminAddress,
      tls: config.listen.tls !== undefined,
      pools: Object.keys(config.pools),
      routes: config.routes.length,
      ringVersion: runtime.ringVersion,
      adminWrites: config.admin.token !== "",
    },
    "listening",
  );
  return { ok: true, app };
}
