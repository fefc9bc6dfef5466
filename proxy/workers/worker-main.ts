// A data-plane worker of `workers: N` (forked by proxy/workers/supervisor.ts through
// node:cluster, so every worker accepts on the one listening socket). It has no Raft node and
// no admin API: it routes on the committed state the primary sends (the same state, so the
// same ring, at the same version as the primary and every other worker), sends its breaker
// outcomes and, when asked, its metrics back, and drains on the primary's word (on a stop signal only once the primary is gone).

import { formatHostPort } from "../../config/address.js";
import type { LogSink } from "../../config/log-sink.js";
import { DescriptorLimits } from "../app/descriptor-limits.js";
import { releaseSignals } from "../app/early-signals.js";
import { errorText } from "../app/errors.js";
import { listenOn } from "../app/listen.js";
import { createServingPlane } from "../app/serving-plane.js";
import { drainAndClose } from "../app/shutdown.js";
import { CommittedRouting } from "../cluster/committed-routing.js";
import { OutcomeRecorders } from "../cluster/outcome-recorders.js";
import { loadEdgeStore } from "../edge/create-edge.js";
import { createAccessLog } from "../logging/access-log.js";
import { createProcessLogger } from "../logging/logger.js";
import { MetricsObserver } from "../metrics/observer.js";
import { createMetrics } from "../metrics/registry.js";
import { SeriesCache } from "../metrics/series-cache.js";
import { CertificateStore } from "../server/certificate-store.js";
import { connectionCapOf } from "../server/proxy-server.js";
import { startTracing } from "../tracing/tracing.js";
import { inFlightList, LiveReporter } from "./live-report.js";
import type { FromWorker, ToWorker } from "./messages.js";
import { ProbeShare } from "./probe-share.js";

type Init = Extract<ToWorker, { t: "init" }>;
type StateMessage = Extract<ToWorker, { t: "state" }>;

/** As often as a single process ships its outcomes to the leader. */
const OUTCOMES_EVERY_MS = 100;
const BEAT_EVERY_MS = 250;

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

function fail(message: string): never {
  send({ t: "failed", message });
  process.stderr.write(`shardgate worker: ${message}\n`);
  process.exit(1);
}

// Messages that arrive while the data plane is being built wait here, in order.
const early: ToWorker[] = [];
let handle: ((m: ToWorker) => void) | null = null;
const initReceived = new Promise<Init>((resolve) => {
  process.on("message", (m: ToWorker) => {
    if (m.t === "init") resolve(m);
    else if (handle !== null) handle(m);
    else early.push(m);
  });
});
send({ t: "ready" });
// The primary forwards SIGHUP as a reload of the file it validated; a HUP sent to the whole
// process group must not kill (the default) or double-reload a worker.
process.on("SIGHUP", () => undefined);
// Stop signals that arrived while this worker started were held by worker-entry.ts; applied
// once it listens (releaseSignals below).

async function main(): Promise<void> {
  const init = await initReceived;
  const config = init.config;
  // Replaced by each accepted reload's ("local"); the rest of `config` is read once, as the primary's is.
  let local = { log: config.log, metrics: config.metrics };
  // ioredis only for a config with `redis:` (create-edge.ts), before anything is opened.
  const storeClass = await loadEdgeStore(config);
  const log = createProcessLogger({ level: local.log.level, destination: init.logDestination });
  const logger = log.logger.child({ worker: init.worker });
  const certificates = givenCertificates(init, logger.child({ component: "listener" }));
  const metrics = createMetrics({ worker: init.worker });
  // Read at every scrape, as in the primary: a reload reaches this worker's next one.
  metrics.memberHistograms = () => local.metrics.memberHistograms;
  const series = new SeriesCache(metrics);
  const observer = new MetricsObserver(series, createAccessLog(log.lines, local.log.accessLog));
  metrics.inFlightSource = () => observer.inFlightByPool();
  metrics.memberInFlightSource = () => observer.inFlightByMember(true);
  // The half-open probe budget is the instance's: this worker admits its part of it.
  const outcomes = new OutcomeRecorders(new ProbeShare(init.worker, init.workers));
  const routing = new CommittedRouting((snap, previous) => outcomes.gateFor(snap, previous));
  // Without it the primary has a committed routing, and its state message is applied below
  // (queued in `early`) before this worker listens.
  if (init.provisional !== undefined) routing.applyProvisional(init.provisional);
  const tracing = await startTracing(config.tracing, init.nodeId, metrics.registry, logger);
  const { edge, dataPlane, proxyServer, overload, tlsEstimate } = createServingPlane({
    config,
    getState: routing.current,
    observer,
    outcomes,
    secret: init.secret,
    tracing,
    logger,
    metrics,
    certificates,
    storeClass,
    memorySplit: {
      role: "worker",
      workers: init.workers,
      primaryReserve: init.primaryReserve,
      primaryFloor: init.primaryFloor,
    },
  });

  const applyState = (m: StateMessage): void => {
    // As the primary's cluster node does: breaker slots follow first, then routing is rebuilt.
    outcomes.sync(m.data);
    if (m.rebuild === null) return;
    const r = routing.apply(m.data, m.rebuild.pools, m.rebuild.routesChanged);
    for (const f of r.failed)
      logger.error({ pool: f.pool, err: f.error }, "pool snapshot could not be built");
    dataPlane.observeState();
    // The label sets this worker's request series use follow the pools, members and routes (as
    // CommittedChanges does in the primary). The gauges (ring version, member flags, ring
    // sizes) stay with the primary, which reports them once for the instance.
    for (const pool of r.removedPools) series.removePool(pool);
    series.syncRoutes(r.state.routeTable.routes.map((route) => route.label));
    for (const name of r.rebuiltPools) {
      const snap = r.state.pools.get(name);
      if (snap !== undefined && !r.tableKept.has(name))
        series.syncMembers(
          name,
          snap.members.map((m) => m.id),
        );
    }
  };
  // Set once the listener listens (below); reported with every beat from then on.
  let descriptors: DescriptorLimits | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= drainAndClose(
      {
        logger,
        dataPlane,
        proxyServer,
        drainTimeoutMs: init.drainTimeoutMs,
        flushLogs: () => log.flush(),
        closeEdge: () => edge.close(),
      },
      reason,
    )
      .then(() => tracing.shutdown().catch(() => undefined))
      .then(
        () => exit(0),
        (err: unknown) => {
          logger.error({ err: errorText(err) }, "worker shutdown failed");
          exit(1);
        },
      );
    return stopping;
  };
  const exit = (code: number): void => {
    clearInterval(shipping);
    descriptors?.stop();
    log.flush();
    process.exitCode = code;
    if (process.connected) process.disconnect();
    // Nothing should be left holding the loop; if something is, do not hang the primary's drain.
    setTimeout(() => process.exit(code), 1_000).unref();
  };
  handle = (m) => {
    switch (m.t) {
      case "state":
        applyState(m);
        return;
      case "keyRules":
        if (routing.setKeyRules(m.rules)) dataPlane.observeState();
        return;
      case "certificates":
        certificates?.install(m.pems);
        return;
      case "local":
        local = m.local;
        log.logger.level = local.log.level;
        observer.setAccessLog(createAccessLog(log.lines, local.log.accessLog));
        return;
      case "provisional":
        // Sent only while the primary has applied no routing, so this worker has none either
        // (committed states follow on the same channel, in order).
        try {
          routing.applyProvisional(m.routing);
        } catch (err) {
          logger.error(
            { err: errorText(err) },
            "reloaded pools could not be built; routing on the previous file",
          );
          return;
        }
        dataPlane.observeState();
        return;
      case "metrics":
        void metrics.registry.getMetricsAsJSON().then(
          (json) => send({ t: "metrics", id: m.id, json }),
          () => send({ t: "metrics", id: m.id, json: [] }),
        );
        return;
      case "shutdown":
        void shutdown(m.reason);
        return;
      default:
        return;
    }
  };
  for (const m of early.splice(0)) handle(m);
  const liveReport = new LiveReporter(series);
  let beatAt = 0;
  // The overload level last reported: a change is sent at once, not at the next beat (an episode
  // shorter than a beat never reached the primary's /readyz).
  let overloadSent = 0;
  const shipping = setInterval(() => {
    const batch = outcomes.drain();
    if (batch.entries.length > 0) send({ t: "outcomes", batch });
    const now = performance.now();
    if (now - beatAt >= BEAT_EVERY_MS || overload.level !== overloadSent) {
      beatAt = now;
      overloadSent = overload.level;
      send({
        t: "beat",
        inFlight: dataPlane.inFlight(),
        ringVersion: routing.ringVersion,
        live: liveReport.deltas(),
        memberInFlight: inFlightList(observer.inFlightByMember()),
        descriptors: descriptors?.view(),
        overload: overload.level,
        memoryUsage: overload.usage,
        tlsBytes: tlsEstimate(),
      });
    }
  }, OUTCOMES_EVERY_MS);
  shipping.unref();
  // A stop signal is the primary's to act on while it supervises this worker: one sent to the
  // whole process group (Ctrl-C, a control-group kill) reaches the primary too, which drains
  // every worker in turn. A worker that stopped on its own meanwhile was taken for a dead one
  // and restarted, and during the primary's start the shared port could close under the
  // others (the start then failed, exit 1). Without the primary (channel gone), it stops.
  const onStopSignal = (signal: NodeJS.Signals): void => {
    if (process.connected)
      logger.info({ signal }, "stop signal left to the primary (send it to the primary's pid)");
    else void shutdown(signal);
  };
  process.on("SIGTERM", onStopSignal);
  process.on("SIGINT", onStopSignal);
  // The primary is gone (killed): nobody supervises or feeds this worker any more.
  process.on("disconnect", () => void shutdown("primary gone"));
  let fatal = false;
  process.on("uncaughtException", (err, origin) => {
    // Only the first (as in process-lifecycle.ts): a later one is most likely the fatal line's
    // own write failing on a closed output, and handling it would loop without end.
    if (fatal) return;
    fatal = true;
    logger.fatal({ err, origin }, "uncaught exception in worker; exiting (the primary restarts it)");
    // Bounded: a log destination that takes nothing must not keep a broken worker alive.
    void log.flushWithin(1_000).then(() => process.exit(1));
  });
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));

  // The address as configured, never the port another worker got: node:cluster shares one
  // listening handle per requested address, so a restarted worker asking for port 0 joins the
  // running workers' port (asking for that port by number would try to bind it a second time).
  const l = await listenOn(proxyServer, config.listen.http, "listen.http");
  if (!l.ok) fail(l.message);
  // Each worker is a process with descriptors of its own: its shortages are its to count and log
  // (the counter reaches /metrics through the primary), and an accept error after the bind is
  // never an uncaught exception.
  descriptors = new DescriptorLimits(
    logger,
    metrics.localExhausted,
    () => connectionCapOf(proxyServer)?.open() ?? 0,
    () => stopping !== undefined,
  );
  observer.localLimits = descriptors;
  // Listening again after an accept error rejoins the shared handle as first asked (see above).
  descriptors.watch(proxyServer, "listen.http", config.listen.http);
  descriptors.start();
  const bound = proxyServer.address();
  if (bound === null || typeof bound === "string") fail("listen.http: the listener has no TCP address");
  send({ t: "listening", address: formatHostPort(bound.address, bound.port), port: bound.port });
  const during = releaseSignals();
  if (during.stop !== null) onStopSignal(during.stop);
}

/** The listener's pairs the primary loaded (it alone reads the files), when listen.tls is set. */
function givenCertificates(init: Init, logger: LogSink): CertificateStore | undefined {
  if (init.config.listen.tls === undefined) return undefined;
  if (init.certificates === undefined) fail("listen.tls: the primary sent no certificates");
  try {
    return CertificateStore.given(init.certificates, logger);
  } catch (err) {
    fail(`listen.tls: the primary's certificates do not load: ${errorText(err)}`);
  }
}

main().catch((err: unknown) => fail(`worker failed to start: ${errorText(err)}`));
