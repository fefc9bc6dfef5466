// A route's fleet-wide rate limit: a token bucket per key in Redis (token-bucket-script.ts),
// refilled at `limit` per `window` up to `burst`. A refused request is answered 429 with
// Retry-After and RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers); an admitted
// one carries the same headers on its response. When Redis cannot be asked (down, slow
// beyond the command timeout, breaker open) the route fails open (default: admitted,
// counted, logged at most every few seconds) or closed (503 rate_limit_unavailable).

import type { RateLimitConfig } from "../../config/file/edge-schema.js";
import type { RouteConfig } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import type { EdgeRouteMetrics } from "../edge/edge-metrics.js";
import type { EdgeState } from "../edge/edge-state.js";
import { ERRORS, errorBody, NOSNIFF } from "../errors.js";
import { answerGrpcError, isGrpcContentType } from "../forward/grpc-status.js";
import { isH2Request } from "../forward/h2-request.js";
import type { RequestContext } from "../forward/request-context.js";
import type { EdgeContinuation } from "../forward/types.js";
import type { RedisStore } from "../redis/redis-store.js";
import { storeKey } from "../redis/store-key.js";
import { ambiguousKeySource, cookieReadings, sourceName } from "../routing/key-ambiguity.js";
import {
  CURRENT_KEY_RULES,
  clientAddress,
  compileKeyPlan,
  extractKey,
  type KeyPlan,
  type KeyRules,
} from "../routing/key-extract.js";
import { clientAddressV3 } from "../routing/key-extract-v3.js";
import { TOKEN_BUCKET } from "./token-bucket-script.js";

const STORE_ERROR_LOG_EVERY_MS = 10_000;
/**
 * The most values of one cookie a request may send and still be counted (each in its bucket): a
 * browser sends one per path and domain the cookie was set on, a handful at most; more is refused,
 * so a request never costs Redis more than this many buckets.
 */
const MAX_COOKIE_READINGS = 4;
const NO_READINGS: readonly string[] = [];

type Headers = Record<string, string | string[] | undefined>;

export class RateLimiter {
  /**
   * The rate limit's own key spec compiled by every key rules (null without one): a request is
   * read by the rules its route was compiled with (the committed cluster level's, as routing
   * reads it), so every instance of a mixed-version fleet counts one key in one Redis bucket.
   */
  private readonly plans: Readonly<Record<KeyRules, KeyPlan>> | null;
  /**
   * The bucket key plan level 4 reads a request by (the own key spec, else the route's), asked at
   * level 5 only for a request that has no key there: see keyOf.
   */
  private readonly level4: KeyPlan;
  private readonly rate: string;
  private readonly burst: string;
  private readonly policy: string;
  private readonly limitText: string;
  private lastErrorLog = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly cfg: RateLimitConfig,
    route: RouteConfig,
    private readonly label: string,
    private readonly store: RedisStore,
    private readonly metrics: EdgeRouteMetrics,
    private readonly logger: LogSink,
    private readonly now: () => number,
  ) {
    const own = cfg.key === undefined ? null : { ...route, key: cfg.key };
    this.plans =
      own === null
        ? null
        : {
            v3: compileKeyPlan(own, "v3"),
            v4: compileKeyPlan(own, "v4"),
            v5: compileKeyPlan(own, "v5"),
            v6: compileKeyPlan(own, "v6"),
            v7: compileKeyPlan(own, "v7"),
          };
    this.level4 = this.plans === null ? compileKeyPlan(route, "v4") : this.plans.v4;
    this.rate = String(cfg.limit / cfg.window);
    this.burst = String(cfg.burst);
    this.limitText = String(cfg.limit);
    this.policy = `${cfg.limit};w=${Math.max(1, Math.round(cfg.window / 1000))};burst=${cfg.burst}`;
    store.defineScript(TOKEN_BUCKET);
  }

  /**
   * The bucket's key: the rate limit's own key spec, else the route's key, else the client address.
   * From level 5 on a Forwarded node that identifies nobody (`for=unknown`, `for=_x`) is no ip key (as
   * routing reads it); a request left with no key at all is counted where level 4 counted it, by
   * the node's text (`unknown`, `ip:unknown`, `ip:_x`), never in one shared `ip:` bucket: the limit
   * still applies to it, an obfuscated identifier keeps a bucket of its own, and the bucket's name
   * is the same before and after the fleet reaches level 5 (nothing counted twice meanwhile).
   */
  private keyOf(ctx: RequestContext): string {
    const routePlan = ctx.compiledRoute?.keyPlan;
    const rules = routePlan?.rules ?? CURRENT_KEY_RULES;
    if (this.plans !== null) {
      const k = extractKey(this.plans[rules], ctx.req);
      if (k !== "") return k;
    } else if (ctx.routingKey !== "" && ctx.issuedCookie === "") {
      return ctx.routingKey;
    }
    const trusted = routePlan?.trusted ?? null;
    if (rules === "v3") return `ip:${clientAddressV3(ctx.req, trusted)}`;
    if (rules !== "v4") {
      const k = extractKey(this.level4, ctx.req);
      if (k !== "") return k;
    }
    return `ip:${clientAddress(ctx.req, trusted, true)}`;
  }

  /** The key plan the ambiguity check reads `ctx`'s request by: the rate limit's own, else the route's. */
  private checkedPlan(ctx: RequestContext): KeyPlan | undefined {
    const routePlan = ctx.compiledRoute?.keyPlan;
    return this.plans !== null ? this.plans[routePlan?.rules ?? CURRENT_KEY_RULES] : routePlan;
  }

  /** True when the request may go on; false when it was answered (400/429/503) here. */
  async admit(ctx: RequestContext, st: EdgeState, cont: EdgeContinuation): Promise<boolean> {
    const plan = this.checkedPlan(ctx);
    const at = plan === undefined ? -1 : ambiguousKeySource(plan, ctx.req);
    let readings = NO_READINGS;
    if (plan !== undefined && at >= 0) {
      // A key source sent two ways is a bucket per spelling while the member reads one key. A
      // cookie named twice is counted in the bucket of every value it holds instead (a browser
      // sends `sid` set on two paths as `sid=a; sid=b`): whichever value the member reads, its
      // bucket paid, and an added value only adds a bucket to pay. Anything else is refused
      // before Redis is asked; which source it was is only worth a debug line.
      const k = plan.keys[at];
      if (k.kind === "cookie")
        readings = cookieReadings(ctx.req.headers.cookie ?? "", k.needle, MAX_COOKIE_READINGS);
      if (readings.length === 0 || readings.length > MAX_COOKIE_READINGS) {
        this.logger.debug(
          { route: this.label, requestId: ctx.requestId, source: sourceName(k) },
          "rate limit key sent more than once: refused",
        );
        cont.fail(ctx, "ambiguous_key");
        return false;
      }
    }
    const key = this.keyOf(ctx);
    let r: [number, number, number, number];
    try {
      r = await this.take(key);
      for (const v of readings) {
        if (v === key) continue;
        const other = await this.take(v);
        // The request goes on only if every bucket had a token; the answer shows the tightest.
        if (other[0] === 0 ? r[0] === 1 || other[2] > r[2] : r[0] === 1 && other[1] < r[1]) r = other;
      }
    } catch (err) {
      return this.storeFailed(ctx, cont, err as Error);
    }
    st.rlLimit = this.cfg.limit;
    st.rlRemaining = r[1];
    st.rlResetSec = Math.ceil(r[3] / 1000);
    st.rlPolicy = this.policy;
    if (r[0] === 1) {
      this.metrics.rate.allowed.inc();
      return true;
    }
    this.metrics.rate.limited.inc();
    if (!ctx.done) this.refuse(ctx, st, Math.max(1, Math.ceil(r[2] / 1000)));
    return false;
  }

  /** One token from the bucket of `key`: [allowed 0|1, tokens left, ms to the next token, ms to full]. */
  private take(key: string): Promise<[number, number, number, number]> {
    return this.store.script(TOKEN_BUCKET.name, [
      storeKey("rl", `${this.label}|${key}`),
      this.rate,
      this.burst,
    ]);
  }

  private storeFailed(ctx: RequestContext, cont: EdgeContinuation, err: Error): boolean {
    this.metrics.storeErrors.rate_limit.inc();
    const open = this.cfg.onStoreError === "open";
    (open ? this.metrics.rate.store_error_open : this.metrics.rate.store_error_closed).inc();
    const t = this.now();
    if (t - this.lastErrorLog >= STORE_ERROR_LOG_EVERY_MS) {
      this.lastErrorLog = t;
      this.logger.warn(
        { route: this.label, err: err.message, onStoreError: this.cfg.onStoreError },
        open
          ? "rate limit store unavailable: admitting (fail open)"
          : "rate limit store unavailable: refusing",
      );
    }
    if (open) return true;
    cont.fail(ctx, "rate_limit_unavailable");
    return false;
  }

  private refuse(ctx: RequestContext, st: EdgeState, retryAfterSec: number): void {
    const res = ctx.res;
    if (res === null || res.headersSent) return;
    const def = ERRORS.rate_limited;
    if (isGrpcContentType(ctx.req.headers["content-type"]) && isH2Request(ctx.req)) {
      // A gRPC client reads a status, not a 429: RESOURCE_EXHAUSTED, trailers-only.
      ctx.errorCode = def.code;
      ctx.status = def.status;
      res.setHeader("retry-after", String(retryAfterSec));
      this.writeHeaders(st, (name, value) => res.setHeader(name, value));
      answerGrpcError(res, "rate_limited", ctx.requestId, ctx.pool);
      return;
    }
    const body = errorBody("rate_limited", ctx.requestId);
    ctx.errorCode = def.code;
    ctx.status = def.status;
    res.statusCode = def.status;
    res.setHeader("content-type", "application/json");
    res.setHeader("x-content-type-options", NOSNIFF);
    res.setHeader("content-length", Buffer.byteLength(body));
    res.setHeader("x-request-id", ctx.requestId);
    res.setHeader("retry-after", String(retryAfterSec));
    this.writeHeaders(st, (name, value) => res.setHeader(name, value));
    // The request body (if any) is not read: close rather than drain it (HTTP/1.1; HTTP/2
    // has no Connection header and resets the stream instead).
    if (ctx.hasBody && ctx.req.httpVersionMajor === 1) res.setHeader("connection", "close");
    res.end(body);
  }

  private writeHeaders(st: EdgeState, set: (name: string, value: string) => void): void {
    set("ratelimit-limit", this.limitText);
    set("ratelimit-remaining", String(st.rlRemaining));
    set("ratelimit-reset", String(st.rlResetSec));
    set("ratelimit-policy", st.rlPolicy);
  }

  onResponse(st: EdgeState, headers: Headers): void {
    if (st.rlLimit === 0) return;
    this.writeHeaders(st, (name, value) => {
      headers[name] = value;
    });
  }
}
