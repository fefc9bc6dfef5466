// The data listener's connection counts at scrape time (proxy/server/connection-cap.ts): how
// many keep-alive connections sit idle, how long the longest-idle one has, and how many were
// closed at listen.maxConnections to admit a new client. An operator sees the cap approach
// (idle count near the cap, reclaims climbing) before clients are refused.

import type { Server } from "node:http";
import { Counter, Gauge } from "prom-client";
import type { ShardgateMetrics } from "../metrics/registry.js";
import { connectionCapOf } from "../server/proxy-server.js";

/** Registers the gauges; returns the hook counting a reclaimed connection. */
export function registerListenerConnectionMetrics(metrics: ShardgateMetrics): {
  watch(server: Server): void;
  onReclaimed(): void;
} {
  let server: Server | undefined;
  const registers = [metrics.registry];
  const stats = () => (server === undefined ? undefined : connectionCapOf(server));
  new Gauge({
    name: "shardgate_downstream_connections_open",
    help: "Connections open on the proxy listener (capped at listen.maxConnections).",
    registers,
    collect() {
      this.set(stats()?.open() ?? 0);
    },
  });
  new Gauge({
    name: "shardgate_downstream_connections_idle",
    help: "Keep-alive connections on the proxy listener with no request in flight (reclaimed longest-idle first at listen.maxConnections).",
    registers,
    collect() {
      this.set(stats()?.idle() ?? 0);
    },
  });
  new Gauge({
    name: "shardgate_downstream_connection_idle_oldest_seconds",
    help: "How long the longest-idle keep-alive connection on the proxy listener has been idle.",
    aggregator: "max",
    registers,
    collect() {
      this.set((stats()?.oldestIdleMs() ?? 0) / 1000);
    },
  });
  const reclaimed = new Counter({
    name: "shardgate_downstream_connections_reclaimed_total",
    help: "Idle keep-alive connections closed at listen.maxConnections to admit a new client.",
    registers,
  });
  return {
    watch(s) {
      server = s;
    },
    onReclaimed: () => reclaimed.inc(),
  };
}
