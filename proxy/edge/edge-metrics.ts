// The edge features' metrics, on the app's registry. Children are looked up once per route
// and kept (EdgeRouteMetrics), so the request path only increments.

import { Counter, type Registry } from "prom-client";
import type { NotOwnerReason } from "../routing/types.js";

export const AFFINITY_OUTCOMES = ["hit", "miss", "repin"] as const;
export type AffinityOutcome = (typeof AFFINITY_OUTCOMES)[number];
export const RATE_DECISIONS = ["allowed", "limited", "store_error_open", "store_error_closed"] as const;
export type RateDecision = (typeof RATE_DECISIONS)[number];
export const CACHE_RESULTS = ["hit", "miss", "coalesced", "bypass", "stored", "not_storable"] as const;
export type CacheResult = (typeof CACHE_RESULTS)[number];
export const STORE_FEATURES = ["affinity", "rate_limit", "cache"] as const;
export type StoreFeature = (typeof STORE_FEATURES)[number];

export class EdgeMetrics {
  readonly affinity: Counter<"route" | "kind" | "outcome">;
  readonly rateLimit: Counter<"route" | "decision">;
  readonly cache: Counter<"route" | "result">;
  readonly cacheBytes: Counter<"route" | "direction">;
  readonly storeErrors: Counter<"feature">;
  readonly notOwner: Counter<"pool" | "reason">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.affinity = new Counter({
      name: "shardgate_affinity_total",
      help: "Affinity decisions: hit (pinned member honoured), miss (no pin yet: ring chose), repin (pinned member not routable or moved).",
      labelNames: ["route", "kind", "outcome"],
      registers,
    });
    this.rateLimit = new Counter({
      name: "shardgate_rate_limit_decisions_total",
      help: "Fleet-wide rate limit decisions; store_error_* when Redis could not be asked.",
      labelNames: ["route", "decision"],
      registers,
    });
    this.cache = new Counter({
      name: "shardgate_cache_requests_total",
      help: "Shared cache outcomes: hit, miss, coalesced (waited for another request's fill), bypass, stored, not_storable.",
      labelNames: ["route", "result"],
      registers,
    });
    this.cacheBytes = new Counter({
      name: "shardgate_cache_bytes_total",
      help: "Response body bytes served from the shared cache (served) and written to it (stored).",
      labelNames: ["route", "direction"],
      registers,
    });
    this.storeErrors = new Counter({
      name: "shardgate_store_errors_total",
      help: "Redis commands that failed or were not sent (breaker open), by the feature that needed them.",
      labelNames: ["feature"],
      registers,
    });
    this.notOwner = new Counter({
      name: "shardgate_requests_not_owner_total",
      help: "Keyed requests whose first attempt did not go to the key's ring owner, by reason: why did my session move.",
      labelNames: ["pool", "reason"],
      registers,
    });
  }

  /** Per-route children, looked up once when the route's features are built. */
  forRoute(route: string): EdgeRouteMetrics {
    return new EdgeRouteMetrics(this, route);
  }

  /** Removes every series of route `route` (a reload removed it): churned routes leave none. */
  removeRoute(route: string): void {
    for (const kind of ["cookie", "store"])
      for (const outcome of AFFINITY_OUTCOMES) this.affinity.remove({ route, kind, outcome });
    for (const decision of RATE_DECISIONS) this.rateLimit.remove({ route, decision });
    for (const result of CACHE_RESULTS) this.cache.remove({ route, result });
    for (const direction of ["served", "stored"]) this.cacheBytes.remove({ route, direction });
  }

  /**
   * Runs `sync` before every scrape of these metrics, so series of routes and pools that are
   * gone are removed even when no request came since (the request path rebuilds lazily).
   */
  syncBeforeScrape(sync: () => void): void {
    for (const c of [this.affinity, this.rateLimit, this.cache, this.cacheBytes, this.notOwner])
      (c as unknown as { collect?: () => void }).collect = sync;
  }
}

type Child = { inc(n?: number): void };

const NOT_OWNER_REASONS: readonly NotOwnerReason[] = [
  "affinity",
  "drain",
  "breaker",
  "health",
  "bounded_load",
];

export class EdgeRouteMetrics {
  private readonly affinityKinds: Record<"cookie" | "store", Record<AffinityOutcome, Child>>;
  readonly rate: Record<RateDecision, Child>;
  readonly cache: Record<CacheResult, Child>;
  readonly bytesServed: Child;
  readonly bytesStored: Child;
  readonly storeErrors: Record<StoreFeature, Child>;

  constructor(m: EdgeMetrics, route: string) {
    const outcomes = (kind: string) =>
      Object.fromEntries(AFFINITY_OUTCOMES.map((o) => [o, m.affinity.labels(route, kind, o)])) as Record<
        AffinityOutcome,
        Child
      >;
    this.affinityKinds = { cookie: outcomes("cookie"), store: outcomes("store") };
    this.rate = Object.fromEntries(RATE_DECISIONS.map((d) => [d, m.rateLimit.labels(route, d)])) as Record<
      RateDecision,
      Child
    >;
    this.cache = Object.fromEntries(CACHE_RESULTS.map((r) => [r, m.cache.labels(route, r)])) as Record<
      CacheResult,
      Child
    >;
    this.bytesServed = m.cacheBytes.labels(route, "served");
    this.bytesStored = m.cacheBytes.labels(route, "stored");
    this.storeErrors = Object.fromEntries(STORE_FEATURES.map((f) => [f, m.storeErrors.labels(f)])) as Record<
      StoreFeature,
      Child
    >;
  }

  affinity(kind: "cookie" | "store", outcome: AffinityOutcome): Child {
    return this.affinityKinds[kind][outcome];
  }
}

/**
 * Cached not-owner children per pool (the data plane's onNotOwner hook). A pool's entry and
 * series live while the pool does: `retain` drops those of removed pools, and a late request
 * of an old snapshot cannot bring them back (`exists` is asked before an entry is made).
 */
export class NotOwnerCounter {
  private readonly byPool = new Map<string, Record<NotOwnerReason, Child>>();
  constructor(
    private readonly metrics: EdgeMetrics,
    private readonly exists: (pool: string) => boolean = () => true,
  ) {}

  /** Forgets every pool not in `pools` and removes its series. */
  retain(pools: ReadonlyMap<string, unknown>): void {
    for (const pool of this.byPool.keys()) {
      if (pools.has(pool)) continue;
      this.byPool.delete(pool);
      for (const reason of NOT_OWNER_REASONS) this.metrics.notOwner.remove({ pool, reason });
    }
  }

  inc(pool: string, reason: NotOwnerReason): void {
    let c = this.byPool.get(pool);
    if (c === undefined) {
      if (!this.exists(pool)) return;
      const l = (r: NotOwnerReason) => this.metrics.notOwner.labels(pool, r);
      c = {
        affinity: l("affinity"),
        drain: l("drain"),
        breaker: l("breaker"),
        health: l("health"),
        bounded_load: l("bounded_load"),
      };
      this.byPool.set(pool, c);
    }
    c[reason].inc();
  }
}
