// The data plane's EdgeHooks: builds each route's edge features (affinity, rate limit,
// shared cache) when the route table changes, off the request path, and hands the data
// plane the one for a request's route. Routes whose edge config did not change keep their
// objects (and so their in-process pin caches and coalescing tables) across rebuilds.

import type { RouteConfig } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import type { Affinity } from "../affinity/affinity.js";
import { CookieAffinity } from "../affinity/cookie-affinity.js";
import type { CookieCodec } from "../affinity/cookie-codec.js";
import { DrainClock } from "../affinity/drain-clock.js";
import { StoreAffinity } from "../affinity/store-affinity.js";
import { SharedCache } from "../cache/shared-cache.js";
import type { EdgeHooks } from "../forward/types.js";
import { RateLimiter } from "../rate-limit/rate-limiter.js";
import type { RedisStore } from "../redis/redis-store.js";
import type { CompiledRoute, RouteTable, RoutingState } from "../routing/types.js";
import type { EdgeMetrics } from "./edge-metrics.js";
import { RouteEdge } from "./route-edge.js";

export interface EdgeEngineDeps {
  metrics: EdgeMetrics;
  codec: CookieCodec;
  logger: LogSink;
  /** The shared store (null without a `redis:` section; the schema then refuses store features). */
  store?: RedisStore | null;
  /** Response headers the data plane adds per response (member, ring version): never cached. */
  perResponseHeaders?: string[];
  /** Monotonic ms. */
  now?: () => number;
  /** Wall-clock unix seconds (cookie expiry). */
  wallSec?: () => number;
}

function edgeSignature(route: CompiledRoute): string | null {
  const c: RouteConfig = route.config;
  if (c.affinity === undefined && c.rateLimit === undefined && c.cache === undefined) return null;
  return JSON.stringify([route.label, route.pool, c.key, c.affinity, c.rateLimit, c.cache]);
}

export class EdgeEngine implements EdgeHooks {
  readonly drains: DrainClock;
  private readonly now: () => number;
  private readonly wallSec: () => number;
  private table: RouteTable | null = null;
  private byIndex: Array<RouteEdge | null> = [];
  private bySignature = new Map<string, RouteEdge>();

  get store(): RedisStore | null {
    return this.d.store ?? null;
  }

  constructor(private readonly d: EdgeEngineDeps) {
    this.now = d.now ?? (() => performance.now());
    this.wallSec = d.wallSec ?? (() => Math.floor(Date.now() / 1000));
    this.drains = new DrainClock(this.now);
  }

  forRoute(state: RoutingState, route: CompiledRoute): RouteEdge | null {
    if (state.routeTable !== this.table) this.rebuild(state.routeTable);
    const edge = this.byIndex[route.index] ?? null;
    if (edge !== null && edge.affinity !== null) this.drains.observe(state);
    return edge;
  }

  /** Every route's edge features by label (admin explanations). */
  routes(): Array<{ route: CompiledRoute; edge: RouteEdge }> {
    const out: Array<{ route: CompiledRoute; edge: RouteEdge }> = [];
    if (this.table === null) return out;
    for (const r of this.table.routes) {
      const e = this.byIndex[r.index];
      if (e !== null && e !== undefined) out.push({ route: r, edge: e });
    }
    return out;
  }

  /** Follows `table` now (before a scrape), not at the next request: a removed route's series go. */
  observeTable(table: RouteTable): void {
    if (table !== this.table) this.rebuild(table);
  }

  private rebuild(table: RouteTable): void {
    // Routes with edge features that the new table no longer has: their series go with them.
    if (this.table !== null) {
      const labels = new Set(table.routes.map((r) => r.label));
      for (const r of this.table.routes)
        if (this.byIndex[r.index] != null && !labels.has(r.label)) this.d.metrics.removeRoute(r.label);
    }
    const next = new Map<string, RouteEdge>();
    const byIndex: Array<RouteEdge | null> = [];
    for (const route of table.routes) {
      const sig = edgeSignature(route);
      if (sig === null) {
        byIndex[route.index] = null;
        continue;
      }
      const edge = this.bySignature.get(sig) ?? next.get(sig) ?? this.build(route);
      next.set(sig, edge);
      byIndex[route.index] = edge;
    }
    this.table = table;
    this.byIndex = byIndex;
    this.bySignature = next;
  }

  private build(route: CompiledRoute): RouteEdge {
    const m = this.d.metrics.forRoute(route.label);
    const c = route.config;
    let affinity: Affinity | null = null;
    if (c.affinity?.cookie !== undefined) {
      affinity = new CookieAffinity(
        c.affinity.cookie,
        c.affinity.drainDeadline,
        this.d.codec,
        this.drains,
        m,
        this.now,
        this.wallSec,
      );
    } else if (c.affinity?.store === "redis" && this.d.store) {
      affinity = new StoreAffinity(c.affinity, this.d.store, this.drains, m, this.now);
    }
    const store = this.d.store ?? null;
    if (
      store === null &&
      (c.affinity?.store !== undefined || c.rateLimit !== undefined || c.cache !== undefined)
    ) {
      // Only after a reload that added the first `redis:` section (which needs a restart).
      this.d.logger.warn(
        { route: route.label },
        "route uses Redis but this process started without a redis section: feature off until restart",
      );
    }
    const rateLimit =
      c.rateLimit !== undefined && store !== null
        ? new RateLimiter(c.rateLimit, c, route.label, store, m, this.d.logger, this.now)
        : null;
    const cache =
      c.cache !== undefined && store !== null
        ? new SharedCache(c.cache, route.label, store, m, this.d.logger, this.d.perResponseHeaders)
        : null;
    return new RouteEdge(affinity, rateLimit, cache, this.d.logger);
  }
}
