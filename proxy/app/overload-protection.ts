// Wires memory overload protection (proxy/server/overload.ts) into one serving process: the
// budget from limits.memory (or the cgroup's, or V8's), one log line on entering and one on
// leaving each episode, the metrics, and idle keep-alive connections closed on entering (the
// memory they hold is freed and their clients reconnect elsewhere, as Envoy's overload manager
// does). The listener reads the guard's level per request (proxy/server/proxy-server.ts).

import type { Server } from "node:http";
import { Server as TlsServer } from "node:tls";
import type { Logger } from "pino";
import type { ShardgateConfig } from "../../config/file/schema.js";
import { registerOverloadMetrics } from "../metrics/overload-metrics.js";
import type { ShardgateMetrics } from "../metrics/registry.js";
import { connectionBytes } from "../server/connection-memory.js";
import { collectGarbage } from "../server/heap-shrink.js";
import {
  budgetAboveCgroup,
  type MemoryLimit,
  resolveMemoryLimit,
  type WorkerSplit,
} from "../server/memory-limit.js";
import { type OverloadGuard as Guard, OVERLOAD_NORMAL, OverloadGuard } from "../server/overload.js";
import { connectionCapOf, h2SessionsOf } from "../server/proxy-server.js";
import { TLS_SOCKET_BYTES } from "../server/tls-memory.js";

const LEVEL_NAMES = ["normal", "shed", "refuse"] as const;

export interface OverloadProtection {
  guard: Guard;
  onShed: (what: "request" | "connection") => void;
  /** Starts sampling and closes idle connections of `server` on entering an episode. */
  start(server: Server): void;
  stop(): void;
  /**
   * The primary of workers: N, with its split measured again once its Raft state is loaded (the
   * first one was measured before): the budget from now on, and its guard starts sampling.
   */
  resplit(split: WorkerSplit): MemoryLimit;
  /** The memory counted for the listener's open TLS connections (bytes; a worker beats it). */
  tlsBytes(): number;
}

/** On the primary of workers: N, what its workers reported with their last beats. */
export interface WorkersOverload {
  /** The highest level (a change is beaten at once). */
  level(): number;
  /** The highest memory usage ratio. */
  usage(): number;
  /** The sum of their estimates for open TLS connections (bytes). */
  tlsBytes(): number;
}

/**
 * `split`: with workers: N, this process's role in sharing the container (memory-limit.ts).
 * `workers`: on the primary of workers: N, its workers' figures from their beats.
 */
export function createOverloadProtection(
  config: Pick<ShardgateConfig, "limits">,
  metrics: ShardgateMetrics,
  logger: Logger,
  split?: WorkerSplit,
  workers?: WorkersOverload,
): OverloadProtection {
  const limits = config.limits;
  let limit = resolveMemoryLimit(limits.memory, split);
  const checkAgainstCgroup = (s: WorkerSplit | undefined): void => {
    const inconsistent = budgetAboveCgroup(limits.memory, s);
    if (inconsistent !== null) logger.warn({ code: "limits_memory_above_cgroup" }, inconsistent);
  };
  // The primary's split is final only at resplit (the workers' shares follow from it).
  if (split?.role !== "primary") checkAgainstCgroup(split);
  let server: Server | undefined;
  // The listener's open sockets (its connection cap counts them) and HTTP/2 sessions, once started.
  let sockets = (): number => 0;
  let sessions = (): number => 0;
  let tls = false;
  const tlsBytes = (): number => (tls ? sockets() * TLS_SOCKET_BYTES : 0);
  const mb = (n: number) => Math.round(n / 1048576);
  const guard: Guard = new OverloadGuard({
    // Against V8's own limit only the heap is measured (RSS includes code and buffers V8 does not bound).
    rssLimit: limit.source === "v8-heap" ? null : limit.bytes,
    shedAt: limits.shedAt,
    refuseAt: limits.refuseAt,
    collect: collectGarbage,
    // What the open connections hold in C++ (OpenSSL, libuv, llhttp, nghttp2): estimated per connection.
    unaccounted: () => connectionBytes(sockets(), tls, sessions()),
    onChange(level, previous, usage, s) {
      const fields = {
        code: "overloaded",
        state: LEVEL_NAMES[level],
        from: LEVEL_NAMES[previous],
        usage: Math.round(usage * 1000) / 1000,
        rssMb: Number.isFinite(s.rss) ? mb(s.rss) : "unreadable",
        heapUsedMb: mb(s.heapUsed),
        externalMb: mb(s.external),
        sockets: sockets(),
        tlsSockets: tls ? sockets() : 0,
        h2Sessions: sessions(),
        limitMb: mb(limit.bytes),
        limitSource: limit.source,
      };
      if (previous === OVERLOAD_NORMAL) {
        logger.warn(fields, "memory overload: shedding new requests with 503 overloaded until memory falls");
        server?.closeIdleConnections();
      } else if (level === OVERLOAD_NORMAL) logger.warn(fields, "memory overload over: serving again");
      else logger.warn(fields, "memory overload level changed");
    },
  });
  // A worker's own gauge reaches /metrics only in its answer to the scrape (2 s deadline), and an
  // overloaded worker (forced collections, a busy loop) is the one likely to miss it: the scrape
  // then said 0 while it shed (and its usage ratio went missing with it). Its beats reach the
  // primary without being asked.
  const m = registerOverloadMetrics(metrics.registry, () => ({
    level: Math.max(guard.level, workers?.level() ?? 0),
    usage: Math.max(guard.usage, workers?.usage() ?? 0),
    tlsBytes: tlsBytes() + (workers?.tlsBytes() ?? 0),
  }));
  return {
    guard,
    onShed: m.shed,
    start(s) {
      server = s;
      const cap = connectionCapOf(s);
      tls = s instanceof TlsServer;
      if (cap !== undefined) sockets = () => cap.open();
      sessions = () => h2SessionsOf(s);
      // The primary of workers: N samples from its resplit on: against the budget measured before
      // its Raft state loaded, a large log loading would read as an overload episode.
      if (split?.role !== "primary") guard.start();
      s.once("close", () => guard.stop());
    },
    stop: () => guard.stop(),
    resplit(s) {
      limit = resolveMemoryLimit(limits.memory, s);
      guard.setRssLimit(limit.source === "v8-heap" ? null : limit.bytes);
      checkAgainstCgroup(s);
      if (server !== undefined) guard.start();
      return limit;
    },
    tlsBytes,
  };
}
