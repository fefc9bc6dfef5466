// The second half of start (proxy/app.ts runs the first: every check `validate` makes): the
// process logger and metrics, the Raft node, the serving plane, the admin API, then the
// listeners, handing back the running App. Loaded by app.ts once the checks passed, so a
// process that only checks (or is refused by a check) never loads these modules.

import type { Logger } from "pino";
import { formatAddress } from "../../config/address.js";
import { configHints } from "../../config/file/config-hints.js";
import type { ShardgateConfig } from "../../config/file/schema.js";
import { resolveConsul } from "../../health/consul-health-query.js";
import { adminTimeouts } from "../admin/admin-timeouts.js";
import { adminHostCheck } from "../admin/host-check.js";
import { createAdminServer } from "../admin/server.js";
import { readSignals } from "../admin/signals.js";
import type { AppOptions, StartResult } from "../app.js";
import type { ClusterSettings } from "../cluster/cluster-settings.js";
import type { CommittedRouting } from "../cluster/committed-routing.js";
import type { OutcomeRecorders } from "../cluster/outcome-recorders.js";
import type { StoreClass } from "../edge/create-edge.js";
import { EdgeAdmin } from "../edge/edge-admin.js";
import { unverifiedTlsPools } from "../forward/upstream-tls.js";
import { createAccessLog } from "../logging/access-log.js";
import { createProcessLogger } from "../logging/logger.js";
import { discoveryErrors } from "../metrics/discovery-errors.js";
import { MetricsObserver } from "../metrics/observer.js";
import { createMetrics } from "../metrics/registry.js";
import { SeriesCache } from "../metrics/series-cache.js";
import { upstreamLookup } from "../net/bounded-lookup.js";
import type { CertificateStore } from "../server/certificate-store.js";
import { connectionCapOf } from "../server/proxy-server.js";
import { startTracing } from "../tracing/tracing.js";
import type { PrimaryWorkers } from "../workers/primary-workers.js";
import { createAdminBackend } from "./admin-backend.js";
import { ClusterActions } from "./cluster-actions.js";
import type { DataDirLock } from "./data-dir-lock.js";
import { DescriptorLimits } from "./descriptor-limits.js";
import { errorText } from "./errors.js";
import { FleetView } from "./fleet-view.js";
import { joinCluster, waitCommitted } from "./join-cluster.js";
import { listenOn } from "./listen.js";
import { liveView, pickLive } from "./live-view.js";
import { isLoopbackHost } from "./loopback.js";
import { createOpsBackend } from "./ops-backend.js";
import { PrimaryMemorySplit } from "./primary-memory-split.js";
import { ConfigReloader } from "./reload.js";
import { RingChangeLog } from "./ring-change-log.js";
import { ringView } from "./ring-view.js";
import { App } from "./running-app.js";
import { createServingPlane } from "./serving-plane.js";
import { DEFAULT_DRAIN_TIMEOUT_MS } from "./stop-deadline.js";

/** How long a one-member cluster may take to elect itself and seed its state before listening. */
const SOLO_START_TIMEOUT_MS = 10_000;

/**
 * Where the listener's TLS files log their reloads: the process logger, once it exists. Each
 * line takes a fresh child of it, so a reload's log.level (set on the process logger) applies.
 */
export interface ListenerLog {
  logger?: Logger;
}

/** What the checks (app.ts) built and found, handed over to start the instance. */
export interface Checked {
  opts: AppOptions;
  env: NodeJS.ProcessEnv;
  config: ShardgateConfig;
  tls: CertificateStore | undefined;
  listenerLog: ListenerLog;
  workers: PrimaryWorkers | undefined;
  workerTotal: number;
  outcomes: OutcomeRecorders;
  routing: CommittedRouting;
  settings: ClusterSettings;
  lock: Extract<DataDirLock, { ok: true }> | null;
  storeClass: StoreClass | null;
  /** How long the checks took to load the Kubernetes client (a pool uses it), else undefined. */
  kubernetesLoadMs: number | undefined;
}

/** Starts everything on what the checks built; a listen failure comes back as a value, nothing left running. */
export async function startRunning(c: Checked): Promise<StartResult> {
  const { opts, env, config, tls, workers, workerTotal, outcomes, routing, settings, lock, storeClass } = c;
  const log = createProcessLogger({ level: config.log.level, destination: opts.logDestination });
  const logger = log.logger;
  c.listenerLog.logger = logger;
  // A reload may add a Consul pool; its first query loads the client, maybe at the descriptor limit.
  resolveConsul();
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
  // Loaded by the checks (app.ts), before Raft starts; logged here, where the logger exists.
  if (c.kubernetesLoadMs !== undefined) logger.info({ ms: c.kubernetesLoadMs }, "kubernetes client loaded");
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
    certificates: tls,
    provisionalApplied: (next) => {
      workers?.provisional(next);
      afterRouting();
    },
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
    env,
    init: {
      config,
      secret: settings.secret,
      nodeId: settings.id,
      drainTimeoutMs: opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      logDestination: opts.logDestination,
    },
    memorySplit: () => {
      const s = memorySplit?.split;
      return { primaryReserve: s?.primaryReserve ?? 0, primaryFloor: s?.primaryFloor ?? 0 };
    },
    // The files are read here only: workers get the bytes (certificate-store.ts).
    certificates: () => tls?.pems(),
  });
  if (tls !== undefined && workers !== undefined) tls.onChanged = workers.certificatesChanged;
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
    certificates: tls,
    storeClass,
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
    registry:
      workers?.registry(metrics.registry, routing.current, () => reloader.config.metrics.memberHistograms) ??
      metrics.registry,
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
