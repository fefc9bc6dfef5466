// Metric series held per pool and per member, so the request path bumps a number it finds
// with two Map lookups instead of building a label object per request. Request counts and
// the member flag gauges are plain numbers exported at scrape (scrape-metric.ts): a member
// that leaves on reload loses its series by leaving this cache, and a route that a reload
// removed loses its request series on every member. The rarer labelled series (errors,
// health transitions) are prom-client children created on first use and removed by label set.
//
// A member of a large pool costs a few objects until it sees traffic: its live counters (a row
// of the pool's LiveColumns, see live-window.ts) and dashboard window are taken on first use,
// so the heap V8 marks stays small at 10,000 members. A leaver's row is zeroed and given back;
// the next member to serve may take it, starting at zero.
//
// The request path finds a member's series by its slot (PoolSnapshot.slots, carried on the
// request record): an array index instead of a lookup in a Map of every member, which at
// 10,000 members missed the CPU caches on every request (`npm run bench -- scale-profile`).
// A slot is bound to a series on first use, checked against the member id on every use (a
// slot can pass to another member), and unbound when the series leaves the pool.

import type { Counter } from "prom-client";
import { bucketIndex, type CountsView, LiveColumns, LiveCounts, LiveRow, LiveWindow } from "./live-window.js";
import type { LabelledCounts } from "./member-histogram.js";
import { memberHistogramsOn } from "./member-histogram-mode.js";
import { CODE_CLASSES, NO_MEMBER, type ShardgateMetrics } from "./registry.js";
import type { ScrapeSample } from "./scrape-metric.js";

type CounterChild = ReturnType<Counter<string>["labels"]>;

/** A pool's request latencies as plain counters, exported as shardgate_request_duration_seconds at scrape. */
export class DurationCounts extends LiveCounts {
  observe(seconds: number, bucket = bucketIndex(seconds)): void {
    this.record(seconds, false, bucket);
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

const NO_COUNTS = new LiveCounts();
/** The window of every member that has served nothing yet (it reads zeros; its samples stay bounded). */
const NO_WINDOW = new LiveWindow(NO_COUNTS);

/** Every label set shardgate_requests_total has for one member: route -> count per code class. */
export class MemberSeries {
  // Request counts per code class (index = codeClassIndex), cumulative: the first route seen
  // in the member's row of the pool's LiveColumns (most pools have one route), any other in a
  // Map created when a second one shows up.
  private route0: string | null = null;
  private byRoute: Map<string, Float64Array> | null = null;
  // Created on first use: most members of a large pool never see an error or a transition.
  private errorsByKind: Map<string, CounterChild> | null = null;
  private transitionsTo: Map<string, CounterChild> | null = null;
  private connectErrorsChild: CounterChild | undefined;
  /** The flag gauges' values: -1 until set (no series), else 0 or 1. */
  healthyValue = -1;
  drainingValue = -1;
  /** This member's row of the pool's LiveColumns, -1 until its first request. */
  private row = -1;
  private liveRow: LiveRow | null = null;
  private liveWindow: LiveWindow | null = null;
  /** The slot of PoolSeries.bySlot holding this series, or -1. */
  slot = -1;

  constructor(
    private readonly m: ShardgateMetrics,
    readonly pool: string,
    readonly member: string,
    private readonly routes: RouteSet,
    private readonly cols: LiveColumns,
  ) {}

  /** Request path: one request of `route` with code class `cls` (codeClassIndex). */
  countRequest(route: string, cls: number): void {
    if (route === this.route0) this.cols.countClass(this.row, cls);
    else this.requests(route)[cls]++;
  }

  /**
   * The request counts of `route` on this member, one per code class (index = codeClassIndex).
   * The first route's are a view into the pool's columns: use it at once (the request path
   * calls countRequest).
   */
  requests(route: string): Float64Array {
    if (route === this.route0) return this.cols.classesOf(this.row);
    let counts = this.byRoute?.get(route);
    if (counts === undefined) {
      // Only on a cache miss: a request that matched a route removed meanwhile does not bring
      // its series back.
      if (!routeKnown(this.routes, route)) return this.requests(REMOVED_ROUTE);
      if (this.route0 === null) {
        if (this.row < 0) this.row = this.cols.take();
        this.route0 = route;
        return this.cols.classesOf(this.row);
      }
      counts = new Float64Array(CODE_CLASSES.length);
      this.byRoute ??= new Map();
      this.byRoute.set(route, counts);
    }
    return counts;
  }

  /** shardgate_requests_total's samples of this member (at scrape). */
  *requestSamples(): IterableIterator<ScrapeSample> {
    if (this.route0 !== null) yield* this.routeSamples(this.route0, this.cols.classesOf(this.row));
    if (this.byRoute !== null)
      for (const [route, counts] of this.byRoute) yield* this.routeSamples(route, counts);
  }

  private *routeSamples(route: string, counts: Float64Array): IterableIterator<ScrapeSample> {
    const { pool, member } = this;
    for (let i = 0; i < CODE_CLASSES.length; i++)
      // A code class never seen has no series (as prom-client shows only incremented children).
      if (counts[i] > 0)
        yield { labels: { route, pool, member, code_class: CODE_CLASSES[i] }, value: counts[i] };
  }

  /** This member's row of the pool's columns if `route` is its first route and it has a row, else -1. */
  rowOf(route: string): number {
    return route === this.route0 ? this.row : -1;
  }

  /** Cumulative counts of the requests this member served (an empty, shared one until the first). */
  get live(): CountsView {
    if (this.row < 0) return NO_COUNTS;
    this.liveRow ??= new LiveRow(this.cols, this.row);
    return this.liveRow;
  }

  /** The dashboard's window over `live`, created when first read after the member served a request. */
  get window(): LiveWindow {
    if (this.row < 0) return NO_WINDOW;
    this.liveWindow ??= new LiveWindow(this.live);
    return this.liveWindow;
  }

  /** A finished request this member served: its latency, and whether it failed (5xx / proxy error). */
  served(seconds: number, failed: boolean, bucket = bucketIndex(seconds)): void {
    if (this.row < 0) this.row = this.cols.take();
    this.cols.record(this.row, seconds, failed, bucket);
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

  /** Sets the member's healthy/draining gauges (exported at scrape). */
  setFlags(healthy: boolean, draining: boolean): void {
    this.healthyValue = healthy ? 1 : 0;
    this.drainingValue = draining ? 1 : 0;
  }

  /** Removes this member's request series of routes that are no longer in the route table. */
  dropRoutes(): void {
    if (this.route0 !== null && !routeKnown(this.routes, this.route0)) {
      this.cols.classesOf(this.row).fill(0);
      this.route0 = null;
    }
    if (this.byRoute === null) return;
    for (const route of this.byRoute.keys()) if (!routeKnown(this.routes, route)) this.byRoute.delete(route);
  }

  /** Removes every series this member ever had, from every metric. */
  remove(): void {
    const { pool, member } = this;
    for (const kind of this.errorsByKind?.keys() ?? []) this.m.upstreamErrors.remove({ pool, member, kind });
    for (const to of this.transitionsTo?.keys() ?? []) this.m.healthTransitions.remove({ pool, member, to });
    if (this.connectErrorsChild !== undefined) this.m.connectErrors.remove({ pool, member });
    this.route0 = null;
    this.byRoute = null;
    this.errorsByKind = null;
    this.transitionsTo = null;
    this.connectErrorsChild = undefined;
    this.healthyValue = this.drainingValue = -1;
    if (this.row >= 0) this.cols.give(this.row);
    this.row = -1;
    this.liveRow = null;
    this.liveWindow = null;
  }
}

/** Slots at or above this are not bound (a pool of millions of members: the Map serves them). */
const MAX_SLOT = 1 << 21;
/** Entries per slot in PoolSeries' request-path index: id, first route, row. */
const FAST = 3;
/** An unset id in that index: a number, which no member id (a string) equals. */
const NO_ID = 0;

export class PoolSeries {
  readonly members = new Map<string, MemberSeries>();
  /** Member slot -> that member's series, bound by memberAt (holes and stale entries are checked). */
  private readonly bySlot: Array<MemberSeries | undefined> = [];
  /**
   * What a finished request reads, by member slot, FAST entries per slot side by side: the id of
   * the member bound to the slot, its first route, its row of `live` (NO_ID when unset). The
   * request finds its member's row here and touches its series object only on a miss: at
   * 1,000 members that object was one more cache miss per request (issue 16).
   */
  private readonly fast: Array<string | number> = [];
  readonly duration = new DurationCounts();
  /** Every member's live counters (and "removed"'s), a row each. */
  readonly live: LiveColumns;
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
    this.live = new LiveColumns();
    this.none = new MemberSeries(m, pool, NO_MEMBER, routes, this.live);
    this.removed = new MemberSeries(m, pool, REMOVED_MEMBER, routes, this.live);
  }

  /** The series of a current member; the "removed" bucket for one no longer in the pool. */
  member(id: string): MemberSeries {
    if (id === "") return this.none;
    return this.members.get(id) ?? this.removed;
  }

  /**
   * member(id) for a member whose slot is `slot` (the request record's memberSlot): the same
   * answer, found by index once the slot is bound. A slot bound to another member (it passed
   * on after a leave) or none (-1) falls back to member(id).
   */
  memberAt(slot: number, id: string): MemberSeries {
    if (slot >= 0 && slot < this.bySlot.length) {
      const s = this.bySlot[slot];
      if (s !== undefined && s.member === id) return s;
    }
    const s = this.member(id);
    // Only current members are bound ("none" and "removed" are not members' series). A member
    // found under another slot moved (a fresh build renumbered the pool): it moves too.
    if (slot >= 0 && slot < MAX_SLOT && s !== this.none && s !== this.removed) {
      this.unbind(s);
      const old = this.bySlot[slot];
      if (old !== undefined) old.slot = -1;
      this.forgetFast(slot);
      while (this.bySlot.length < slot) this.bySlot.push(undefined);
      this.bySlot[slot] = s;
      s.slot = slot;
    }
    return s;
  }

  /**
   * Request path: counts one finished request of member `id` (slot `slot`, as memberAt takes
   * them) on `route` with code class `cls`, and when `serve` its latency and failure. The same
   * counts as memberAt(slot, id).countRequest(route, cls) and then served(seconds, failed).
   * `bucket`: bucketIndex(seconds), computed once by the caller for this and the pool's histogram.
   */
  finished(
    slot: number,
    id: string,
    route: string,
    cls: number,
    serve: boolean,
    seconds: number,
    failed: boolean,
    bucket = bucketIndex(seconds),
  ): void {
    const f = this.fast;
    const at = slot * FAST;
    if (slot >= 0 && at < f.length && f[at] === id && f[at + 1] === route) {
      const row = f[at + 2] as number;
      this.live.countClass(row, cls);
      if (serve) this.live.record(row, seconds, failed, bucket);
      return;
    }
    const ms = this.memberAt(slot, id);
    ms.countRequest(route, cls);
    if (serve) ms.served(seconds, failed, bucket);
    // Learned once the member has a row and `route` is its first (most pools have one route).
    const row = ms.rowOf(route);
    if (row < 0 || ms.slot !== slot || slot < 0) return;
    while (f.length < at + FAST) f.push(NO_ID, NO_ID, -1);
    f[at] = ms.member;
    f[at + 1] = route;
    f[at + 2] = row;
  }

  /** Forgets what `finished` learned of `slot`. */
  private forgetFast(slot: number): void {
    const at = slot * FAST;
    if (slot >= 0 && at < this.fast.length) this.fast[at] = NO_ID;
  }

  /** Forgets `s`'s slot (it is leaving the pool). */
  unbind(s: MemberSeries): void {
    if (s.slot >= 0 && this.bySlot[s.slot] === s) {
      this.bySlot[s.slot] = undefined;
      this.forgetFast(s.slot);
    }
    s.slot = -1;
  }

  *requestSamples(): IterableIterator<ScrapeSample> {
    for (const s of this.members.values()) yield* s.requestSamples();
    yield* this.none.requestSamples();
    yield* this.removed.requestSamples();
  }

  *flagSamples(flag: "healthy" | "draining"): IterableIterator<ScrapeSample> {
    const pool = this.pool;
    for (const [member, s] of this.members) {
      const value = flag === "healthy" ? s.healthyValue : s.drainingValue;
      if (value >= 0) yield { labels: { pool, member }, value };
    }
  }

  /** Removes every member's request series of routes that are no longer in the route table. */
  dropRoutes(): void {
    // A member's first route may go: finished() learns again what still holds.
    this.fast.length = 0;
    for (const s of this.members.values()) s.dropRoutes();
    this.none.dropRoutes();
    this.removed.dropRoutes();
  }

  remove(): void {
    this.fast.length = 0;
    for (const s of this.members.values()) {
      this.unbind(s);
      s.remove();
    }
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
    metrics.requestsSource = () => this.requestSamples();
    metrics.memberFlagsSource = (flag) => this.flagSamples(flag);
    metrics.poolCountsSource = () => this.poolCounts();
    metrics.poolNamesSource = () => this.poolNames();
  }

  /** Every pool's latency counters (the per-pool histogram, at scrape time). */
  *poolCounts(): IterableIterator<LabelledCounts> {
    yield { labels: { pool: NO_ROUTE }, counts: this.unrouted.duration };
    for (const [pool, ps] of this.pools) yield { labels: { pool }, counts: ps.duration };
  }

  /** shardgate_requests_total's samples (at scrape). */
  *requestSamples(): IterableIterator<ScrapeSample> {
    yield* this.unrouted.requestSamples();
    for (const ps of this.pools.values()) yield* ps.requestSamples();
  }

  /** shardgate_member_healthy / _draining samples of every current member (at scrape). */
  *flagSamples(flag: "healthy" | "draining"): IterableIterator<ScrapeSample> {
    for (const ps of this.pools.values()) yield* ps.flagSamples(flag);
  }

  /** Every current member's counters (the per-member latency histogram, at scrape time). */
  *memberCounts(): IterableIterator<{ pool: string; member: string; counts: CountsView }> {
    const mode = this.metrics.memberHistograms();
    for (const [pool, ps] of this.pools) {
      if (!memberHistogramsOn(mode, ps.members.size)) continue;
      for (const [member, ms] of ps.members) if (ms.live.count > 0) yield { pool, member, counts: ms.live };
    }
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

  /** The pool name pool() last found (not "") and its series: most requests repeat the last one's pool. */
  private lastName = "";
  private lastPool: PoolSeries | null = null;

  pool(name: string): PoolSeries {
    if (name === "") return this.unrouted;
    if (name === this.lastName) return this.lastPool as PoolSeries;
    const ps = this.pools.get(name);
    if (ps === undefined) return this.unrouted;
    this.lastName = name;
    this.lastPool = ps;
    return ps;
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
    // Loops are indexed or forEach: for-of over the Map (entries) and the ids, once per reload
    // and not optimised, allocated an entry array and iterator results per member (280 KiB
    // per reload at 5,000 members). When every member held is in `ids` (a join, a restart of
    // the same list) nothing is removed and the held members are not walked at all.
    let held = 0;
    for (let i = 0; i < ids.length; i++) if (ps.members.has(ids[i])) held++;
    if (held !== ps.members.size) {
      const keep = sortedIds(ids) ? null : new Set(ids);
      const members = ps.members;
      members.forEach((s, id) => {
        if (keep === null ? !hasSorted(ids, id) : !keep.has(id)) {
          (ps as PoolSeries).unbind(s);
          s.remove();
          members.delete(id);
        }
      });
    }
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!ps.members.has(id))
        ps.members.set(id, new MemberSeries(this.metrics, pool, id, this.routes, ps.live));
    }
  }

  removePool(pool: string): void {
    const ps = this.pools.get(pool);
    if (ps === undefined) return;
    ps.remove();
    this.pools.delete(pool);
    if (pool === this.lastName) {
      this.lastName = "";
      this.lastPool = null;
    }
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
