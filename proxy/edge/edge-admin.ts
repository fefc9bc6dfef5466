// The admin API's view of the edge features: which member affinity sends a key (or a cookie)
// to and why (GET /admin/route), and the cache purge (POST /admin/cache/purge).

import type { AdminError, AdminResult } from "../admin/types.js";
import type { AffinityExplanation } from "../affinity/affinity.js";
import { purgeCache } from "../cache/cache-purge.js";
import { normalizePath } from "../routing/normalize-path.js";
import type { RoutingState } from "../routing/types.js";
import type { EdgeEngine } from "./edge-engine.js";

export interface AffinityView extends AffinityExplanation {
  /** The route (label) whose affinity this is. */
  route: string;
}

export interface PurgeRequest {
  url?: string;
  prefix?: string;
  route?: string;
}

export interface PurgeView {
  kind: "url" | "prefix";
  value: string;
  route: string | null;
  removed: number;
}

const bad = (message: string): { ok: false; err: AdminError } => ({
  ok: false,
  err: { status: 400, error: "bad_request", message },
});

export class EdgeAdmin {
  constructor(
    private readonly engine: EdgeEngine,
    private readonly state: () => RoutingState,
  ) {}

  /**
   * The affinity decision for `key` (or `cookie`) on the first route of `pool` with an affinity
   * (or the route labelled `route`); undefined when no such route exists.
   */
  async explain(
    pool: string,
    key: string,
    cookie: string,
    route?: string,
  ): Promise<AffinityView | undefined> {
    const state = this.state();
    const snapshot = state.pools.get(pool);
    if (snapshot === undefined) return undefined;
    // Build (or refresh) the routes' features for the current table.
    const first = state.routeTable.routes[0];
    if (first !== undefined) this.engine.forRoute(state, first);
    for (const { route: r, edge } of this.engine.routes()) {
      if (r.pool !== pool || edge.affinity === null) continue;
      if (route !== undefined && r.label !== route) continue;
      this.engine.drains.observe(state);
      return { route: r.label, ...(await edge.affinity.explain(snapshot, key, cookie)) };
    }
    return undefined;
  }

  async purge(body: unknown): Promise<AdminResult<PurgeView>> {
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return bad('expected a JSON body {"url": "/path"} or {"prefix": "/path/"}, optionally with "route"');
    const b = body as Record<string, unknown>;
    const route = b.route;
    if (route !== undefined && typeof route !== "string")
      return bad('"route" must be a route label like "*/static"');
    const given = (["url", "prefix"] as const).filter((k) => b[k] !== undefined);
    if (given.length !== 1) return bad('give exactly one of "url" or "prefix"');
    const kind = given[0];
    const raw = b[kind];
    if (typeof raw !== "string" || !raw.startsWith("/") || raw.length > 8192)
      return bad(`"${kind}" must be a path starting with "/"`);
    // Entries are stored under the path as routed (dot segments removed, "%2e" decoded), so the
    // purge names them the same way: "/static/./a" purges what a request for it cached.
    const value = normalizePath(raw);
    const caches = this.engine.routes().filter((x) => x.edge.cache !== null);
    if (caches.length === 0)
      return { ok: false, err: { status: 404, error: "no_cache", message: "no route has a cache" } };
    if (route !== undefined && !caches.some((x) => x.route.label === route))
      return {
        ok: false,
        err: { status: 404, error: "unknown_route", message: `no cached route labelled "${route}"` },
      };
    const store = this.engine.store;
    if (store === null)
      return { ok: false, err: { status: 503, error: "store_unavailable", message: "no redis" } };
    try {
      const removed = await purgeCache(store, kind, value, route);
      return { ok: true, value: { kind, value, route: route ?? null, removed } };
    } catch (err) {
      return {
        ok: false,
        err: { status: 503, error: "store_unavailable", message: `redis: ${(err as Error).message}` },
      };
    }
  }
}
