// Wires the edge features for the composition root: the cookie key, the metrics, the shared
// Redis client (only when the config has a `redis:` section) and the engine the data plane
// asks per request. Returns a close() for shutdown. ioredis is loaded by loadEdgeStore only for
// such a config: a process without Redis does not pay its load (~120 ms of CPU at every start).

import { Counter, Gauge, type Registry } from "prom-client";
import { codeOf } from "../../config/coded-error.js";
import { CACHE_REPLY_OVERHEAD } from "../../config/file/edge-schema.js";
import type { ShardgateConfig } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import { CookieCodec } from "../affinity/cookie-codec.js";
import type { RedisStore } from "../redis/redis-store.js";
import { DEFAULT_MAX_REPLY_BYTES, type ReplyLimit } from "../redis/reply-bound.js";
import type { RoutingState } from "../routing/types.js";
import { EdgeEngine } from "./edge-engine.js";
import { EdgeMetrics, NotOwnerCounter } from "./edge-metrics.js";

export interface EdgeInit {
  /** Routing comes from the routing state (`routing`), never from the file's pools and routes. */
  config: Omit<ShardgateConfig, "pools" | "routes">;
  /** The cluster secret ("" when none): the cookie key derives from it. */
  secret: string;
  registry: Registry;
  logger: LogSink;
  /** The routing state in use: routes and pools it no longer has lose their edge series. */
  routing: () => RoutingState;
  /** loadEdgeStore's answer for this config. */
  storeClass: StoreClass | null;
}

/** The shared store's class (redis-store.ts), loaded on demand. */
export type StoreClass = typeof RedisStore;

/**
 * RedisStore's class when the config has a `redis:` section, else null. The composition root
 * awaits it before it opens anything (a failed load leaves nothing running) and hands it to
 * createEdge, so the store is built at start as before and no request waits on the import.
 */
export async function loadEdgeStore(config: Pick<ShardgateConfig, "redis">): Promise<StoreClass | null> {
  if (config.redis === undefined) return null;
  try {
    return (await import("../redis/redis-store.js")).RedisStore;
  } catch (err) {
    throw storeLoadFailure(err);
  }
}

/**
 * A failed load in one line that names the package (Node's message can go on with a require
 * stack), with Node's code kept: start tells a descriptor shortage by it (load-failure.ts). The
 * CLI printed the loader's stack trace instead, as if shardgate itself had crashed.
 */
function storeLoadFailure(err: unknown): Error {
  const said = (err instanceof Error ? err.message : String(err)).split("\n", 1)[0];
  const failure = new Error(`the Redis client (package ioredis) could not be loaded: ${said}`, {
    cause: err,
  });
  return Object.assign(failure, { code: codeOf(err) });
}

export interface Edge {
  readonly engine: EdgeEngine;
  readonly notOwner: NotOwnerCounter;
  readonly metrics: EdgeMetrics;
  /** The shared store, when the config has a `redis:` section. */
  readonly store: RedisStore | null;
  close(): Promise<void>;
}

export function createEdge(init: EdgeInit): Edge {
  const metrics = new EdgeMetrics(init.registry);
  const redis = init.config.redis;
  const Store = init.storeClass;
  if (redis !== undefined && Store === null)
    throw new Error(
      "createEdge: the config has a redis section but no store class (loadEdgeStore) was passed",
    );
  const store =
    redis === undefined || Store === null
      ? null
      : new Store(redis, init.logger, undefined, replyLimit(redis.maxReplyBytes, init.routing));
  if (store !== null) {
    let counted = 0;
    new Counter({
      name: "shardgate_store_replies_too_large_total",
      help: "Connections to Redis dropped because one reply grew past redis.maxReplyBytes.",
      registers: [init.registry],
      collect() {
        this.inc(store.repliesTooLarge - counted);
        counted = store.repliesTooLarge;
      },
    });
    // One gauge an alert can watch (counters only move with traffic); with workers the
    // minimum: 0 while any process cannot use Redis.
    new Gauge({
      name: "shardgate_store_up",
      help: "1 while Redis is connected, its breaker closed and its last command succeeded; 0 otherwise.",
      registers: [init.registry],
      aggregator: "min",
      collect() {
        this.set(store.up ? 1 : 0);
      },
    });
  }
  const engine = new EdgeEngine({
    metrics,
    codec: new CookieCodec(init.secret),
    logger: init.logger,
    store,
    perResponseHeaders: [init.config.headers.memberHeader, init.config.headers.ringVersionHeader].filter(
      (h): h is string => h !== undefined,
    ),
  });
  const notOwner = new NotOwnerCounter(metrics, (pool) => init.routing().pools.has(pool));
  let synced: RoutingState | null = null;
  metrics.syncBeforeScrape(() => {
    const state = init.routing();
    if (state === synced) return;
    synced = state;
    engine.observeTable(state.routeTable);
    notOwner.retain(state.pools);
  });
  return {
    engine,
    notOwner,
    metrics,
    store,
    async close() {
      await store?.close();
    },
  };
}

/**
 * The Redis reply bound: what the largest legitimate reply needs under the routing in use (4 MiB,
 * or the largest route cache's maxBytes + CACHE_REPLY_OVERHEAD), or `redis.maxReplyBytes` when
 * set and larger. It follows the routing (a reload, a committed routing from a peer): it was
 * worked out once from the local file at start, so a cache.maxBytes raised later had its larger
 * entries drop the Redis connection at every read. A set value is checked against its own file
 * only (config/file/cross-check.ts) and read once at start (redis is restart-only), so a reload
 * raising both, or a peer's routing with a larger cache, needs more than the running set value:
 * the bound rises to that need rather than dropping the connection at every such read.
 */
function replyLimit(set: number | undefined, routing: () => RoutingState): ReplyLimit {
  const floor = set ?? DEFAULT_MAX_REPLY_BYTES;
  let seen: RoutingState | null = null;
  let max = floor;
  return {
    get max(): number {
      const state = routing();
      if (state !== seen) {
        seen = state;
        max = floor;
        for (const r of state.routeTable.routes) {
          const cache = r.config.cache;
          if (cache !== undefined) max = Math.max(max, cache.maxBytes + CACHE_REPLY_OVERHEAD);
        }
      }
      return max;
    },
  };
}
