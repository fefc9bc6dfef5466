// Strong stickiness by cookie (Envoy's stateful_session idea): the first response sets a
// signed cookie naming the member that served; later requests go to that member while it
// may take them (in the pool, healthy, breaker closed, not refused locally; or draining but
// within the drain deadline), otherwise to the ring's choice, and the cookie is re-issued
// naming the member that actually served. A forged, foreign (other pool, other key) or
// expired cookie is ignored like a missing one. No store: nothing to fail.

import type { AffinityCookieConfig } from "../../config/file/edge-schema.js";
import type { EdgeRouteMetrics } from "../edge/edge-metrics.js";
import type { EdgeState } from "../edge/edge-state.js";
import type { RequestContext } from "../forward/request-context.js";
import { cookieValue } from "../routing/key-extract.js";
import type { PoolSnapshot } from "../routing/types.js";
import { type Affinity, type AffinityExplanation, appendSetCookie, mayServeSession } from "./affinity.js";
import type { CookieCodec } from "./cookie-codec.js";
import type { DrainClock } from "./drain-clock.js";

const SAME_SITE = { lax: "Lax", strict: "Strict", none: "None" } as const;

export class CookieAffinity implements Affinity {
  private readonly needle: string;
  /** Everything after the value in Set-Cookie, built once. */
  private readonly attributes: string;
  private readonly ttlSec: number;

  constructor(
    private readonly cfg: AffinityCookieConfig,
    private readonly drainDeadline: number,
    private readonly codec: CookieCodec,
    private readonly drains: DrainClock,
    private readonly metrics: EdgeRouteMetrics,
    private readonly now: () => number,
    private readonly wallSec: () => number,
  ) {
    this.needle = `${cfg.name}=`;
    this.ttlSec = Math.max(1, Math.floor(cfg.ttl / 1000));
    let a = `; Path=${cfg.path}; Max-Age=${this.ttlSec}`;
    if (cfg.httpOnly) a += "; HttpOnly";
    if (cfg.secure) a += "; Secure";
    this.attributes = `${a}; SameSite=${SAME_SITE[cfg.sameSite]}`;
  }

  private honoured(snapshot: PoolSnapshot, raw: string, live: RequestContext["live"], now: number): number {
    const member = this.codec.verify(snapshot.name, raw, this.wallSec());
    if (member === null) return -1;
    const index = snapshot.byId.get(member);
    if (index === undefined) return -2;
    return mayServeSession(snapshot, index, live, now, this.drains, this.drainDeadline) ? index : -2;
  }

  choose(ctx: RequestContext, st: EdgeState): undefined {
    const snapshot = ctx.snapshot;
    if (snapshot === null) return undefined;
    const header = ctx.req.headers.cookie;
    const raw = header === undefined ? "" : cookieValue(header, this.needle);
    const index = raw === "" ? -1 : this.honoured(snapshot, raw, ctx.live, this.now());
    if (index >= 0) {
      ctx.preferred = index;
      st.affinitySource = "cookie";
      st.cookieMember = snapshot.members[index].id;
      this.metrics.affinity("cookie", "hit").inc();
    } else {
      st.affinitySource = "ring";
      // -2: a valid cookie whose member may not take the request: the session moves.
      this.metrics.affinity("cookie", index === -2 ? "repin" : "miss").inc();
    }
    return undefined;
  }

  onResponse(
    ctx: RequestContext,
    st: EdgeState,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // Re-issue unless the cookie already names the member that served (a retry may have moved it).
    if (st.cookieMember === ctx.member || ctx.member === "" || ctx.snapshot === null) return;
    const value = this.codec.sign(ctx.snapshot.name, ctx.member, this.wallSec() + this.ttlSec);
    appendSetCookie(headers, `${this.cfg.name}=${value}${this.attributes}`);
    st.affinityCookieSet = true;
  }

  async explain(snapshot: PoolSnapshot, _key: string, cookie: string): Promise<AffinityExplanation> {
    if (cookie === "") return { member: null, source: "ring", note: "no cookie given (add &cookie=VALUE)" };
    const index = this.honoured(snapshot, cookie, null, this.now());
    if (index >= 0) return { member: snapshot.members[index].id, source: "cookie" };
    return {
      member: null,
      source: "ring",
      note:
        index === -1
          ? "cookie refused (forged, foreign or expired)"
          : "cookie's member may not take requests now",
    };
  }
}
