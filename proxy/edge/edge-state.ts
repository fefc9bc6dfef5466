// What a request's edge features remember between its start and its response: one object,
// allocated only for requests on routes that have edge features, every field set here.

import type { IncomingHttpHeaders } from "node:http";
import type { RequestContext } from "../forward/request-context.js";

/** Where the member of a request came from (GET /admin/route names the same sources). */
export type AffinitySource = "cookie" | "store" | "cache" | "ring";

export class EdgeState {
  /** The source of the affinity decision, or "" when the route has no affinity. */
  affinitySource: AffinitySource | "" = "";
  /** The member the client's cookie named and that was honoured ("" when none). */
  cookieMember = "";
  /** True when this response carries a Set-Cookie of the affinity's own (it is no member's). */
  affinityCookieSet = false;

  /** RateLimit-* header values; limit 0 = no rate limit ran. */
  rlLimit = 0;
  rlRemaining = 0;
  rlResetSec = 0;
  rlPolicy = "";

  /** The cache entry this request may fill ("" = not cacheable / cache off). */
  cacheKey = "";
  /** True when this request leads a coalesced fill others wait for. */
  cacheLeader = false;
  /**
   * The request's headers as the upstream gets them (forward/headers.ts upstreamHeaderView),
   * taken once at the cache lookup: a response's Vary is read from this one view at lookup,
   * coalescing and store (null until the cache looks).
   */
  cacheHeaders: IncomingHttpHeaders | null = null;
}

/** The request's EdgeState, created on first use. */
export function edgeStateOf(ctx: RequestContext): EdgeState {
  let st = ctx.edgeState as EdgeState | null;
  if (st === null) {
    st = new EdgeState();
    ctx.edgeState = st;
  }
  return st;
}
