// A ConfigReloader for in-process ClusterNode tests: silent logs, a private reload counter,
// no metrics observer; reloads `path` and proposes through `cluster()`.

import pino from "pino";
import { Counter } from "prom-client";
import type { ShardgateConfig } from "../../../config/file/schema.js";
import { ConfigReloader } from "../../../proxy/app/reload.js";
import type { ClusterNode } from "../../../proxy/cluster/cluster-node.js";
import { CommittedRouting } from "../../../proxy/cluster/committed-routing.js";
import type { MetricsObserver } from "../../../proxy/metrics/observer.js";

export function testReloader(
  initial: ShardgateConfig,
  path: string,
  cluster: () => ClusterNode,
): ConfigReloader {
  return new ConfigReloader(initial, {
    configPath: path,
    env: {},
    logger: pino({ level: "silent" }),
    logSink: { write: () => undefined } as never,
    reloads: new Counter({
      name: "test_reloads_total",
      help: "reloads",
      labelNames: ["result"],
      registers: [],
    }),
    routing: new CommittedRouting(),
    observer: { setAccessLog: () => undefined } as unknown as MetricsObserver,
    cluster,
  });
}
