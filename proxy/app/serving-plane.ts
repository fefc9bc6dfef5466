// The edge features, the data plane and the proxy listener in front of it, built one way for a
// single process (proxy/app.ts) and for every worker of `workers: N` (proxy/workers/worker-main.ts),
// so a listener or edge feature (TLS and SNI rotation, PROXY protocol, timeouts, affinity
// cookies, Redis) reaches both alike.

import type { Server as TlsServer } from "node:tls";
import type { Logger } from "pino";
import type { ShardgateConfig } from "../../config/file/schema.js";
import { ClusterHooks } from "../cluster/cluster-hooks.js";
import type { OutcomeRecorders } from "../cluster/outcome-recorders.js";
import { createEdge, type StoreClass } from "../edge/create-edge.js";
import { createDataPlane } from "../forward/data-plane.js";
import type { MetricsObserver } from "../metrics/observer.js";
import type { ShardgateMetrics } from "../metrics/registry.js";
import type { TrustedList } from "../routing/cidr-match.js";
import { compileTrusted } from "../routing/key-extract.js";
import type { RoutingState } from "../routing/types.js";
import type { WorkerSplit } from "../server/memory-limit.js";
import { createProxyServer } from "../server/proxy-server.js";
import type { Tracing } from "../tracing/tracing.js";
import { registerListenerConnectionMetrics } from "./listener-connection-metrics.js";
import { createOverloadProtection, type WorkersOverload } from "./overload-protection.js";
import type { TlsFiles } from "./tls-files.js";

export interface ServingPlaneParts {
  /** Without the file's pools and routes: the data plane routes on `getState`. */
  config: Omit<ShardgateConfig, "pools" | "routes">;
  /** The routing state getter (CommittedRouting.current): a field read per request. */
  getState(): RoutingState;
  observer: MetricsObserver;
  outcomes: OutcomeRecorders;
  /** The cluster secret ("" when none): the edge's cookie key derives from it. */
  secret: string;
  tracing: Tracing;
  logger: Logger;
  metrics: ShardgateMetrics;
  certificates: Extract<TlsFiles, { ok: true }>["value"];
  /** With workers: N, this process's part of the container's memory; absent = alone in it. */
  memorySplit?: WorkerSplit;
  /** On the primary of workers: N, its workers' highest overload level (their beats). */
  workersOverload?: WorkersOverload;
  /** loadEdgeStore(config)'s answer: the shared store's class, when the config has `redis:`. */
  storeClass: StoreClass | null;
}

export function createServingPlane(p: ServingPlaneParts) {
  const { config, logger, metrics } = p;
  const edge = createEdge({
    config,
    secret: p.secret,
    registry: metrics.registry,
    logger,
    routing: p.getState,
    storeClass: p.storeClass,
  });
  const tls = p.certificates;
  const dataPlane = createDataPlane({
    getState: p.getState,
    hooks: p.tracing.wrap(new ClusterHooks(p.observer, p.outcomes, edge.notOwner)),
    edge: edge.engine,
    logger: logger.child({ component: "proxy" }),
    options: {
      memberHeader: config.headers.memberHeader,
      ringVersionHeader: config.headers.ringVersionHeader,
      maxUpstreamPerClient: config.listen.maxUpstreamPerClient,
    },
  });
  const connections = registerListenerConnectionMetrics(metrics);
  const overload = createOverloadProtection(
    config,
    metrics,
    logger.child({ component: "overload" }),
    p.memorySplit,
    p.workersOverload,
  );
  const proxyServer = createProxyServer({
    dataPlane,
    logger: logger.child({ component: "listener" }),
    listen: {
      timeouts: config.listen.timeouts,
      maxHeaderSize: config.listen.maxHeaderSize,
      maxConnections: config.listen.maxConnections,
      clientHalfClose: config.listen.clientHalfClose,
    },
    http2: config.listen.http2.enabled
      ? { maxConcurrentStreams: config.listen.http2.maxConcurrentStreams }
      : false,
    // Codes come from the listener's fixed set, so the label stays bounded.
    onClientError: (code) => metrics.clientErrors.inc({ code }),
    onIdleReclaimed: connections.onReclaimed,
    tls: tls === undefined ? undefined : { ...tls.defaultPair, SNICallback: tls.SNICallback },
    proxyProtocol:
      config.listen.proxyProtocol === undefined
        ? undefined
        : { trusted: compileTrusted(config.listen.proxyProtocol.trusted) as TrustedList },
    overload: { guard: overload.guard, onShed: overload.onShed },
  });
  overload.start(proxyServer);
  connections.watch(proxyServer);
  tls?.watch(proxyServer as unknown as TlsServer);
  proxyServer.once("close", () => tls?.close());
  return {
    edge,
    dataPlane,
    proxyServer,
    overload: overload.guard,
    resplitMemory: overload.resplit,
    tlsEstimate: overload.tlsBytes,
  };
}
