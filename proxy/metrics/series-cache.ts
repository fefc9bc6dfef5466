// Labelled metric children cached per pool and per member, so the request path increments a
// child it already holds (two Map lookups) instead of building a label object per request.
// The cache also remembers every series it created for a member, which is how a member that
// leaves on reload has all of its series removed (prom-client can only remove exact label sets),
// and how a route that a reload removed loses its request series on every member.

import type { Counter } from "prom-client";
import { LiveCounts, LiveWindow } from "./live-window.js";
import type { LabelledCounts } from "./member-histogram.js";
import { CODE_CLASSES, NO_MEMBER, type ShardgateMetrics } from "./registry.js";

type CounterChild = ReturnType<Counter<string>["labels"]>;

/**
 * A counter child's increments held as a plain number until the next scrape adds them
 * (registry.ts: requests' collect). A prom-client child's inc() hashes its label set into a
 * string and looks it up on every call; per request and per member that cost grew with the
 * number of series.
 */
export class DeferredCount {
  pending = 0;
  constructor(private readonly child: CounterChild) {}
  inc(): void {
    this.pending++;
  }
  flush(): void {
    if (this.pending === 0) return;
    this.child.inc(this.pending);
    this.pending = 0;
  }
}

/** A pool's request latencies as plain counters, exported as shardgate_request_duration_seconds at scrape. */
export class DurationCounts extends LiveCounts {
  observe(seconds: number): void {
    this.record(seconds, false);
  }
}

/** Label value for a request that matched no route / pool. */
export const NO_ROUTE = "none";
/** Member label for requests served by a member that has since left the pool (finished after a reload). */
export const REMOVED_MEMBER = "removed";
/** Route label for requests that matched a route a reload has since removed (finished after it). */
export const REMOVED_ROUTE = "removed";

/** The route labels of the applied route table; null until the first one is applied (any label goes). */
interface RouteSet {
  current: ReadonlySet<string> | null;
}

function routeKnown(routes: RouteSet, route: string): boolean {
  return (
    routes.current === null || route === NO_ROUTE || route === REMOVED_ROUTE || routes.current.has(route)
  );
}

export class MemberSeries {
  /** route label -> one counter per code class (index = codeClassIndex). */
  private readonly byRoute = new Map<string, DeferredCount[]>();
  // Created on first use: most members of a large pool never see an error or a transition.
  private errorsByKind: Map<string, CounterChild> | null = null;
  private transitionsTo: Map<string, CounterChild> | null = null;
  private connectErrorsChild: CounterChild | undefined;
  // The flag gauges are set through the parent, not a labelled child: a prom-client child holds
  // five bound functions, and every member has these two series.
  private healthyValue = -1;
  private drainingValue = -1;
  /** Plain counters for the dashboard's live figures, read (and windowed) only when watched. */
  readonly live = new LiveCounts();
  readonly window = new LiveWindow(this.live);

  constructor(
    private readonly m: ShardgateMetrics,
    readonly pool: string,
    readonly member: string,
    private readonly routes: RouteSet,
  ) {}

  requests(route: string): DeferredCount[] {
    let children = this.byRoute.get(route);
    if (children === undefined) {
      // Only on a cache miss: a request that matched a route removed meanwhile does not bring
      // its series back.
      if (!routeKnown(this.routes, route)) return this.requests(REMOVED_ROUTE);
      children = CODE_CLASSES.map(
        (code_class) =>
          new DeferredCount(
            this.m.requests.labels({ route, pool: this.pool, member: this.member, code_class }),
          ),
      );
      this.byRoute.set(route, children);
    }
    return children;
  }

  /** Adds pending request counts to their series (at scrape). */
  flushRequests(): void {
    for (const children of this.byRoute.values())
      for (let i = 0; i < children.length; i++) children[i].flush();
  }

  /** A finished request this member served: its latency, and whether it failed (5xx / proxy error). */
  served(seconds: number, failed: boolean): void {
    this.live.record(seconds, failed);
  }

  connectErrors(): CounterChild {
    this.connectErrorsChild ??= this.m.connectErrors.labels({ pool: this.pool, member: this.member });
    return this.connectErrorsChild;
  }

  upstreamErrors(kind: string): CounterChild {
    this.errorsByKind ??= new Map();
    let c = this.errorsByKind.get(kind);
    if (c === undefined) {
      c = this.m.upstreamErrors.labels({ pool: this.pool, member: this.member, kind });
      this.errorsByKind.set(kind, c);
    }
    return c;
  }

  healthTransitions(to: string): CounterChild {
    this.transitionsTo ??= new Map();
    let c = this.transitionsTo.get(to);
    if (c === undefined) {
      c = this.m.healthTransitions.labels({ pool: this.pool, member: this.member, to });
      this.transitionsTo.set(to, c);
    }
    return c;
  }

  /** Sets the member's healthy/draining gauges; a value that did not change is not written again. */
  setFlags(healthy: boolean, draining: boolean): void {
    const h = healthy ? 1 : 0;
    const d = draining ? 1 : 0;
    if (h !== this.healthyValue) {
      this.m.memberHealthy.set({ pool: this.pool, member: this.member }, h);
      this.healthyValue = h;
    }
    if (d !== this.drainingValue) {
      this.m.memberDraining.set({ pool: this.pool, member: this.member }, d);
      this.drainingValue = d;
    }
  }

  /** Removes this member's request series of routes that are no longer in the route table. */
  dropRoutes(): void {
    const { pool, member } = this;
    for (const route of this.byRoute.keys()) {
      if (routeKnown(this.routes, route)) continue;
      for (const code_class of CODE_CLASSES) this.m.requests.remove({ route, pool, member, code_class });
      this.byRoute.delete(route);
    }
  }

  /** Removes every series this member ever had, from every metric. */
  remove(): void {
    const { pool, member } = this;
    for (const route of this.byRoute.keys()) {
      for (const code_class of CODE_CLASSES) this.m.requests.remove({ route, pool, member, code_class });
    }
    for (const kind of this.errorsByKind?.keys() ?? []) this.m.upstreamErrors.remove({ pool, member, kind });
    for (const to of this.transitionsTo?.keys() ?? []) this.m.healthTransitions.remove({ pool, member, to });
    if (this.connectErrorsChild !== undefined) this.m.connectErrors.remove({ pool, member });
    if (this.healthyValue !== -1) this.m.memberHealthy.remove({ pool, member });
    if (this.drainingValue !== -1) this.m.memberDraining.remove({ pool, member });
    this.byRoute.clear();
    this.errorsByKind = null;
    this.transitionsTo = null;
    this.connectErrorsChild = undefined;
    this.healthyValue = this.drainingValue = -1;
  }
}

export class PoolSeries {
  readonly members = new Map<string, MemberSeries>();
  readonly duration = new DurationCounts();
  readonly retries: CounterChild;
  readonly grpcRefused: CounterChild;
  /** Requests that reached no member (no member available, key rejected, ...). */
  readonly none: MemberSeries;
  /** Requests that finished on a member that left the pool meanwhile. */
  readonly removed: MemberSeries;

  constructor(
    private readonly m: ShardgateMetrics,
    readonly pool: string,
    routes: RouteSet,
  ) {
    this.retries = m.retries.labels({ pool });
    this.grpcRefused = m.grpcRefused.labels({ pool });
    this.none = new MemberSeries(m, pool, NO_MEMBER, routes);
    this.removed = new MemberSeries(m, pool, REMOVED_MEMBER, routes);
  }

  /** The series of a current member; the "removed" bucket for one no longer in the pool. */
  member(id: string): MemberSeries {
    if (id === "") return this.none;
    return this.members.get(id) ?? this.removed;
  }

  flushRequests(): void {
    for (const s of this.members.values()) s.flushRequests();
    this.none.flushRequests();
    this.removed.flushRequests();
  }

  /** Removes every member's request series of routes that are no longer in the route table. */
  dropRoutes(): void {
    for (const s of this.members.values()) s.dropRoutes();
    this.none.dropRoutes();
    this.removed.dropRoutes();
  }

  remove(): void {
    for (const s of this.members.values()) s.remove();
    this.members.clear();
    this.none.remove();
    this.removed.remove();
    const pool = this.pool;
    this.m.retries.remove({ pool });
    this.m.grpcRefused.remove({ pool });
    this.m.ringPoints.remove({ pool });
    this.m.ringMemberPointsMin.remove({ pool });
    this.m.ringMemberPointsMax.remove({ pool });
  }
}

/**
 * All pools' series. Membership is driven by the applied state (`syncMembers`), never by what
 * the request path reports, so a late request from an old snapshot cannot resurrect a series.
 */
export class SeriesCache {
  private readonly pools = new Map<string, PoolSeries>();
  private readonly routes: RouteSet = { current: null };
  /** For requests that matched no route: pool label "none". */
  readonly unrouted: PoolSeries;

  constructor(readonly metrics: ShardgateMetrics) {
    this.unrouted = new PoolSeries(metrics, NO_ROUTE, this.routes);
    metrics.memberCountsSource = () => this.memberCounts();
    metrics.requestsFlush = () => this.flushRequests();
    metrics.poolCountsSource = () => this.poolCounts();
  }

  /** Every pool's latency counters (the per-pool histogram, at scrape time). */
  *poolCounts(): IterableIterator<LabelledCounts> {
    yield { labels: { pool: NO_ROUTE }, counts: this.unrouted.duration };
    for (const [pool, ps] of this.pools) yield { labels: { pool }, counts: ps.duration };
  }

  /** Adds every pending request count to shardgate_requests_total (at scrape). */
  flushRequests(): void {
    this.unrouted.flushRequests();
    for (const ps of this.pools.values()) ps.flushRequests();
  }

  /** Every current member's counters (the per-member latency histogram, at scrape time). */
  *memberCounts(): IterableIterator<{ pool: string; member: string; counts: LiveCounts }> {
    for (const [pool, ps] of this.pools)
      for (const [member, ms] of ps.members) if (ms.live.count > 0) yield { pool, member, counts: ms.live };
  }

  /**
   * Makes `labels` the routes that have request series: every series of another route is
   * removed, and a request still finishing on one counts under route "removed".
   */
  syncRoutes(labels: readonly string[]): void {
    const next = new Set(labels);
    const cur = this.routes.current;
    if (cur !== null && cur.size === next.size && labels.every((l) => cur.has(l))) return;
    this.routes.current = next;
    this.unrouted.dropRoutes();
    for (const ps of this.pools.values()) ps.dropRoutes();
  }

  pool(name: string): PoolSeries {
    if (name === "") return this.unrouted;
    return this.pools.get(name) ?? this.unrouted;
  }

  /** Makes the pool's member set exactly `ids`: adds series holders, removes leavers' series. */
  syncMembers(pool: string, ids: readonly string[]): void {
    let ps = this.pools.get(pool);
    if (ps === undefined) {
      ps = new PoolSeries(this.metrics, pool, this.routes);
      this.pools.set(pool, ps);
    }
    // Ids in order (as the committed state keeps members) are looked up by binary search: a
    // Set of a 5,000-member pool per reload was garbage that waited for a mark-compact.
    const keep = sortedIds(ids) ? null : new Set(ids);
    for (const [id, s] of ps.members) {
      if (keep === null ? !hasSorted(ids, id) : !keep.has(id)) {
        s.remove();
        ps.members.delete(id);
      }
    }
    for (const id of ids)
      if (!ps.members.has(id)) ps.members.set(id, new MemberSeries(this.metrics, pool, id, this.routes));
  }

  removePool(pool: string): void {
    const ps = this.pools.get(pool);
    if (ps === undefined) return;
    ps.remove();
    this.pools.delete(pool);
  }

  poolNames(): IterableIterator<string> {
    return this.pools.keys();
  }
}

/** Whether `ids` is strictly ascending (UTF-16 code unit order). */
function sortedIds(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (!(ids[i - 1] < ids[i])) return false;
  return true;
}

/** Whether the strictly ascending `ids` holds `id`. */
function hasSorted(ids: readonly string[], id: string): boolean {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < ids.length && ids[lo] === id;
}
