// The composition root: one running shardgate instance. Loads the config, joins the fleet
// (a Raft cluster over the replicated cluster state; a one-member cluster when the config has
// no `cluster:` section), routes by the committed state (CommittedRouting, rebuilt per applied
// change and swapped by reference), starts the proxy listener and the admin API, and hands
// back an App that owns reload and shutdown. Nothing else in the process wires modules
// together; each concept lives in proxy/app/.

import { rmSync } from "node:fs";
import { formatAddress } from "../config/address.js";
import type { ConfigError } from "../config/file/config-error.js";
import { formatConfigErrors } from "../config/file/config-error.js";
import { configHints } from "../config/file/config-hints.js";
import { loadConfigFileText } from "../config/file/load.js";
import { seedConfigLoads } from "../config/file/load-off-thread.js";
import type { ShardgateConfig } from "../config/file/schema.js";
import { kubernetesClient, usesKubernetes } from "../health/kubernetes-client.js";
import { adminTimeouts } from "./admin/admin-timeouts.js";
import { adminHostCheck } from "./admin/host-check.js";
import { createAdminServer } from "./admin/server.js";
import { readSignals } from "./admin/signals.js";
import { createAdminBackend } from "./app/admin-backend.js";
import { ClusterActions } from "./app/cluster-actions.js";
import { checkDataDir } from "./app/data-dir-check.js";
import { lockDataDir } from "./app/data-dir-lock.js";
import { DescriptorLimits } from "./app/descriptor-limits.js";
import { engineEnvError } from "./app/engine-env.js";
import { envFlagsError } from "./app/env-flags.js";
import { configError, errorText } from "./app/errors.js";
import { FleetView } from "./app/fleet-view.js";
import { joinCluster, waitCommitted } from "./app/join-cluster.js";
import { listenOn } from "./app/listen.js";
import { liveView, pickLive } from "./app/live-view.js";
import { isLoopbackHost } from "./app/loopback.js";
import { createOpsBackend } from "./app/ops-backend.js";
import { PrimaryMemorySplit } from "./app/primary-memory-split.js";
import { ConfigReloader } from "./app/reload.js";
import { RingChangeLog } from "./app/ring-change-log.js";
import { ringView } from "./app/ring-view.js";
import { App } from "./app/running-app.js";
import { createServingPlane } from "./app/serving-plane.js";
import { readTlsFiles } from "./app/tls-files.js";
import { resolveClusterSettings } from "./cluster/cluster-settings.js";
import { CommittedRouting } from "./cluster/committed-routing.js";
import { OutcomeRecorders } from "./cluster/outcome-recorders.js";
import { EdgeAdmin } from "./edge/edge-admin.js";
import { unreadableTlsFiles, unverifiedTlsPools } from "./forward/upstream-tls.js";
import { createAccessLog } from "./logging/access-log.js";
import { createProcessLogger } from "./logging/logger.js";
import { discoveryErrors } from "./metrics/discovery-errors.js";
import { MetricsObserver } from "./metrics/observer.js";
import { createMetrics } from "./metrics/registry.js";
import { SeriesCache } from "./metrics/series-cache.js";
import { upstreamLookup } from "./net/bounded-lookup.js";
import { CURRENT_KEY_RULES } from "./routing/key-extract.js";
import { connectionCapOf } from "./server/proxy-server.js";
import { startTracing } from "./tracing/tracing.js";
import { PrimaryWorkers } from "./workers/primary-workers.js";
import { type WorkersSetting, workerCount } from "./workers/worker-count.js";

export type { ReloadOutcome } from "./app/reload.js";
export { App } from "./app/running-app.js";

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
  /** Flag --bootstrap: an empty data directory may found a new cluster. */
  bootstrap?: boolean;
  /** Overrides `workers` (flag --workers): data-plane processes sharing the listener. */
  workers?: WorkersSetting;
}

export type StartResult =
  | { ok: true; app: App }
  | { ok: false; kind: "config"; errors: ConfigError[]; text: string }
  | { ok: false; kind: "listen"; message: string };

function configFailure(path: string, message: string, configPath: string): StartResult {
  const error = configError(path, message);
  return { ok: false, kind: "config", errors: [error], text: `${configPath}: ${path}: ${message}` };
}

/**
 * Loads and validates the config, joins the cluster, then starts everything. Config errors
 * and a listen failure (port in use, permission) come back as values with a clear message;
 * nothing is left running.
 */
export async function startApp(opts: AppOptions): Promise<StartResult> {
  const r = await startOrCheck(opts, false);
  if (r.ok && r.app === null) throw new Error("startApp: only the checks ran"); // unreachable
  return r;
}

/** What `start` would refuse, without starting anything: `shardgate validate` runs this. */
export type CheckResult = { ok: true; config: ShardgateConfig } | Exclude<StartResult, { ok: true }>;

/**
 * Every check `startApp` makes before it starts anything (the file, listener and upstream TLS
 * files, pools that can be built, cluster settings with the flags and environment), on the
 * same code path, so a file `validate` accepts is one `start` accepts: only a port in use or
 * a data directory that cannot be written are left for `start` to find.
 */
export async function checkApp(opts: AppOptions): Promise<CheckResult> {
  const r = await startOrCheck(opts, true);
  if (!r.ok) return r;
  if (r.app !== null) throw new Error("checkApp: an app was started"); // unreachable
  return { ok: true, config: r.config };
}

async function startOrCheck(
  opts: AppOptions,
  checkOnly: boolean,
): Promise<StartResult | { ok: true; app: null; config: ShardgateConfig }> {
  const env = opts.env ?? process.env;
  const { result: loaded, text: loadedText } = await loadConfigFileText(opts.configPath, env);
  if (!loaded.ok) {
    const text = formatConfigErrors(loaded.errors, opts.configPath);
    return { ok: false, kind: "config", errors: loaded.errors, text };
  }
  const config = loaded.config;
  // The first reload's worker starts from this load (an incremental load of a few changed members).
  if (!checkOnly && loadedText !== null) seedConfigLoads(opts.configPath, env, loadedText, config);
  // Reloads log later, once the process logger (made below) exists.
  const tls = readTlsFiles(config, {
    info: (o, m) => logger.child({ component: "listener" }).info(o, m),
    error: (o, m) => logger.child({ component: "listener" }).error(o, m),
    warn: (o, m) => logger.child({ component: "listener" }).warn(o, m),
    debug: (o, m) => logger.child({ component: "listener" }).debug(o, m),
  });
  if (!tls.ok)
    return {
      ok: false,
      kind: "config",
      errors: [tls.error],
      text: `${opts.configPath}: ${tls.error.message}`,
    };
  const unreadable = unreadableTlsFiles(config.pools);
  if (unreadable.length > 0) {
    const message = unreadable.join("; ");
    const error = { path: "pools", expected: "readable PEM files", found: message, message };
    return { ok: false, kind: "config", errors: [error], text: `${opts.configPath}: ${message}` };
  }
  // workers > 1: this process keeps Raft, the committed state and the admin API; the workers
  // (proxy/workers/) serve the listener and route on the state this process hands them.
  const workerTotal = workerCount(opts.workers ?? config.workers);
  const workers = workerTotal > 1 ? new PrimaryWorkers(workerTotal) : undefined;
  const outcomes = workers?.outcomes ?? new OutcomeRecorders();
  // A clustered instance reads keys by the previous build's rules until the committed cluster
  // level has LEVEL_KEY_SPELLING (join-cluster.ts switches them); a standalone one by the current.
  const routing = new CommittedRouting(
    (snap, previous) => outcomes.gateFor(snap, previous),
    config.cluster === undefined ? CURRENT_KEY_RULES : "v3",
  );
  try {
    routing.applyProvisional(config);
  } catch (err) {
    return configFailure("pools", `pools that can be built: ${errorText(err)}`, opts.configPath);
  }
  const engineError = engineEnvError(env);
  if (engineError !== null) return configFailure("SHARDGATE_ENGINE", engineError, opts.configPath);
  const flagError = envFlagsError(env, config.cluster !== undefined);
  if (flagError !== null) return configFailure(flagError.variable, flagError.message, opts.configPath);
  // Last of the checks: without a cluster section this creates the temporary data directory,
  // which only the node's stop removes.
  const resolved = resolveClusterSettings(
    config,
    { nodeId: opts.nodeId, dataDir: opts.dataDir, bootstrap: opts.bootstrap },
    env,
  );
  if (!resolved.ok) return configFailure("cluster", resolved.message, opts.configPath);
  const settings = resolved.settings;
  if (!settings.ephemeral) {
    // Before anything opens it: a coded error naming the path, in bounded time (data-dir-check.ts).
    const dir = await checkDataDir(settings.dataDir, { create: !checkOnly });
    if (!dir.ok)
      return {
        ok: false,
        kind: "listen",
        message: `${dir.code}: data directory ${settings.dataDir}: ${dir.message}`,
      };
  }
  // One process per data directory (data-dir-lock.ts); released when the app stops or the process exits.
  const lock = checkOnly || settings.ephemeral ? null : lockDataDir(settings.dataDir);
  if (lock !== null && !lock.ok)
    return {
      ok: false,
      kind: "listen",
      message: `${lock.code}: data directory ${settings.dataDir}: ${lock.message}`,
    };
  if (checkOnly) {
    tls.value?.close();
    if (settings.ephemeral) rmSync(settings.dataDir, { recursive: true, force: true });
    return { ok: true, app: null, config };
  }

  const log = createProcessLogger({ level: config.log.level, destination: opts.logDestination });
  const logger = log.logger;
  // A refused /etc/hosts is said in the JSON log, not on stderr only (proxy/net/hosts-file.ts).
  upstreamLookup.setHostsWarn((message) => logger.warn({ component: "dns" }, message));
  const metrics = createMetrics();
  const series = new SeriesCache(metrics);
  const observer = new MetricsObserver(series, createAccessLog(log.lines, config.log.accessLog));
  metrics.inFlightSource = () => observer.inFlightByPool();
  metrics.memberInFlightSource = () => observer.inFlightByMember(true);
  // Open client connections for its warning: read from the listener once it exists.
  let openConnections = (): number => 0;
  const descriptors = new DescriptorLimits(
    logger,
    metrics.localExhausted,
    () => openConnections(),
    () => app?.shuttingDown ?? false,
  );
  observer.localLimits = descriptors;
  const ringChanges = new RingChangeLog();
  for (const pool of unverifiedTlsPools(config.pools)) {
    logger.warn(
      { pool },
      `pools.${pool}.tls.verify is false: upstream certificates are NOT verified, anyone on the path can impersonate these members`,
    );
  }
  if (usesKubernetes(config.pools)) {
    // Before Raft starts: importing the client on the leader's first watch blocked the event
    // loop for ~1 s while Raft waited on fsyncs (health/kubernetes-client.ts).
    const t0 = performance.now();
    await kubernetesClient();
    logger.info({ ms: Math.round(performance.now() - t0) }, "kubernetes client loaded");
  }
  const reloader = new ConfigReloader(config, {
    configPath: opts.configPath,
    env,
    logger,
    logSink: log.lines,
    reloads: metrics.configReloads,
    routing,
    observer,
    cluster: () => node,
    localApplied: workers?.reloaded,
  });
  // Read at every scrape, so a reload that changes metrics.memberHistograms takes effect at once.
  metrics.memberHistograms = () => reloader.config.metrics.memberHistograms;
  // The data plane follows each applied state at once (it is built below).
  let afterRouting = (): void => undefined;
  const node = joinCluster({
    settings,
    config,
    log,
    metrics,
    series,
    outcomes,
    routing,
    fileRouting: () => reloader.fileRouting(),
    drift: () => reloader.drift(),
    changes: ringChanges,
    afterApplied: (change, before, after) => {
      workers?.afterApplied(change, before, after);
      afterRouting();
    },
    onLocalShortage: (op, code) => descriptors.note(op, code),
    onClusterLevel: () => {
      workers?.keyRules(routing.rules);
      afterRouting();
    },
  });
  const actions = new ClusterActions(node, routing);
  // shardgate_discovery_consecutive_errors: the streaks of the watches this node runs.
  discoveryErrors.watchStreaks(() => node.membership.status());
  // What this process holds to keep Raft, the state and the admin API; the workers split the rest
  // of the container (memory-limit.ts). Measured again once the Raft state is loaded (below).
  const memorySplit = workers === undefined ? undefined : new PrimaryMemorySplit(workerTotal, config.limits);
  workers?.bind({
    logger,
    registry: metrics.registry,
    committed: () => routing.committed,
    log: () => reloader.config.log,
    env,
    init: {
      configPath: opts.configPath,
      secret: settings.secret,
      nodeId: settings.id,
      drainTimeoutMs: opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      logDestination: opts.logDestination,
    },
    memorySplit: () => {
      const s = memorySplit?.split;
      return { primaryReserve: s?.primaryReserve ?? 0, primaryFloor: s?.primaryFloor ?? 0 };
    },
  });
  workers?.keyRules(routing.rules);
  const tracing = await startTracing(config.tracing, settings.id, metrics.registry, logger);

  const { edge, dataPlane, proxyServer, overload, resplitMemory } = createServingPlane({
    config,
    getState: routing.current,
    observer,
    outcomes,
    secret: settings.secret,
    tracing,
    logger,
    metrics,
    certificates: tls.value,
    memorySplit: memorySplit?.split,
    workersOverload:
      workers === undefined
        ? undefined
        : { level: workers.overloadLevel, usage: workers.memoryUsage, tlsBytes: workers.tlsBytes },
  });
  afterRouting = () => dataPlane.observeState();
  let app: App | undefined;
  const fleet = new FleetView(
    () => reloader.config.admin.fleet,
    () => {
      return { state: adminBackend.state(), peers: adminBackend.ops?.peers() };
    },
  );
  const adminBackend = createAdminBackend({
    routing,
    dataPlane,
    registry: workers?.registry(metrics.registry, routing.current) ?? metrics.registry,
    workers: workers?.views,
    descriptors: () => descriptors.view(),
    adminToken: () => reloader.config.admin.token,
    shuttingDown: () => app?.shuttingDown ?? false,
    keyDefaultPort: config.listen.tls === undefined ? 80 : 443,
    overloadLevel: () => Math.max(overload.level, workers?.overloadLevel() ?? 0),
    reload: () => reloader.reloadForAdmin(),
    setDraining: (pool, member, draining) => actions.setDraining(pool, member, draining),
    setBreaker: (pool, member, state) => actions.setBreaker(pool, member, state),
    fault: (action, peer) => actions.fault(action, peer),
    raft: () => {
      try {
        return node.raftView();
      } catch {
        return undefined;
      }
    },
    drift: () => reloader.drift(),
    degraded: () => node.degradedReason(),
    degradedCause: () => node.degradedCause,
    panicPools: () => [...node.panics].filter(([, p]) => p).map(([pool]) => pool),
    discovery: () => node.membership.status(),
    edge: new EdgeAdmin(edge.engine, routing.current),
    ops: createOpsBackend({
      node,
      changes: () => ringChanges.list(),
      live: (only) =>
        workers === undefined ? liveView(series, observer, only) : pickLive(workers.live.view(series), only),
      fleet: () => fleet.read(),
      ring: (pool, top) => ringView(routing.current(), pool, top),
      // This process's registry. With workers: N the DNS lookups and client errors happen in
      // the workers, whose sums only /metrics has: no panel rather than a panel of zeros.
      signals: workers === undefined ? () => readSignals(metrics.registry) : undefined,
    }),
  });
  const adminServer = createAdminServer({
    logger,
    timeouts: adminTimeouts(config),
    limits: { maxConnections: config.admin.maxConnections, maxBodySize: config.admin.maxBodySize },
    backend: adminBackend,
    hostAllowed: adminHostCheck(config.listen.admin.host, () => reloader.config.admin),
  });

  const stopAll = async () => {
    dataPlane.close();
    await edge.close();
    await node.stop().catch(() => undefined);
    await tracing.shutdown().catch(() => undefined);
    lock?.release();
  };
  try {
    await node.start();
  } catch (err) {
    await stopAll();
    const raftListen = settings.listen === null ? "none" : formatAddress(settings.listen);
    const where = `listen ${raftListen}, data ${settings.dataDir}`;
    return {
      ok: false,
      kind: "listen",
      message: `cluster: cannot start the Raft node (${where}): ${errorText(err)}`,
    };
  }
  // A one-member cluster elects itself at once: wait for it so that the first request
  // already routes on the committed state. Members of a larger fleet do not wait for quorum.
  if (settings.voters.length === 1 && settings.voters[0] === settings.id) {
    if (!(await waitCommitted(routing, SOLO_START_TIMEOUT_MS)))
      logger.warn({ node: settings.id }, "no committed state yet; routing provisionally on the file");
  }
  // Before the workers start: they split what the primary leaves.
  memorySplit?.settle(resplitMemory, logger.child({ component: "overload" }));
  const l1 =
    workers === undefined
      ? await listenOn(proxyServer, config.listen.http, "listen.http")
      : await workers.start();
  if (!l1.ok) {
    await workers?.stop("start failed");
    await stopAll();
    return { ok: false, kind: "listen", message: l1.message };
  }
  const l2 = await listenOn(adminServer, config.listen.admin, "listen.admin");
  if (!l2.ok) {
    await workers?.stop("start failed");
    proxyServer.close();
    await stopAll();
    return { ok: false, kind: "listen", message: l2.message };
  }
  // Accept errors after the bind (listenOn took the bind's): counted and logged, never fatal.
  if (workers === undefined) {
    descriptors.watch(proxyServer, "listen.http");
    openConnections = () => connectionCapOf(proxyServer)?.open() ?? 0;
  }
  descriptors.watch(adminServer, "listen.admin");
  descriptors.start();
  app = new App({
    log,
    reloader,
    routing,
    cluster: node,
    dataPlane,
    proxyServer,
    adminServer,
    drainTimeoutMs: opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
    closeEdge: () => edge.close(),
    afterStop: () => {
      // Its sampler is unref'd, but a stopped app keeps no timer, nor a listener's pending re-listen.
      descriptors.stop();
      return tracing.shutdown().finally(() => lock?.release());
    },
    httpAddress: workers?.address,
    beforeStop: workers?.stop,
  });
  for (const hint of configHints(config)) logger.warn({ check: hint.check }, hint.text);
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
      raft:
        node.driver.peerAddresses()[settings.id] ??
        (settings.listen === null ? "none" : formatAddress(settings.listen)),
      voters: settings.voters,
      dataDir: settings.ephemeral ? "(temporary)" : settings.dataDir,
      workers: workerTotal,
    },
    "listening",
  );
  if (!isLoopbackHost(config.listen.admin.host)) {
    // The admin API speaks plain HTTP: its bearer token crosses the network in clear.
    logger.warn(
      { admin: app.adminAddress },
      "listen.admin is not a loopback address and the admin API has no TLS: the admin token travels in clear; bind it to loopback or reach it through a TLS-terminating proxy",
    );
  }
  return { ok: true, app };
}
