// One route's edge features run in order: the rate limit (a limited request is answered
// 429 and goes no further), the shared cache (a hit is answered from it), then affinity
// (which member the first attempt takes), then the request goes upstream. A route with only
// a cookie affinity stays synchronous; the others wait for Redis, bounded by its command
// timeout and short-circuited by its breaker.

import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { LogSink } from "../../config/log-sink.js";
import type { Affinity } from "../affinity/affinity.js";
import type { SharedCache } from "../cache/shared-cache.js";
import type { RequestContext } from "../forward/request-context.js";
import type { EdgeContinuation, EdgeRoute } from "../forward/types.js";
import type { RateLimiter } from "../rate-limit/rate-limiter.js";
import { type EdgeState, edgeStateOf } from "./edge-state.js";

export class RouteEdge implements EdgeRoute {
  private readonly syncOnly: boolean;

  constructor(
    readonly affinity: Affinity | null,
    readonly rateLimit: RateLimiter | null,
    readonly cache: SharedCache | null,
    private readonly logger: LogSink,
  ) {
    this.syncOnly = rateLimit === null && cache === null;
  }

  begin(ctx: RequestContext, cont: EdgeContinuation): void {
    const st = edgeStateOf(ctx);
    if (this.syncOnly && this.affinity !== null) {
      const pending = this.affinity.choose(ctx, st);
      if (pending === undefined) cont.proceed(ctx);
      else void this.after(pending, ctx, cont);
      return;
    }
    void this.run(ctx, st, cont);
  }

  private async after(pending: Promise<void>, ctx: RequestContext, cont: EdgeContinuation): Promise<void> {
    await pending;
    cont.proceed(ctx);
  }

  private async run(ctx: RequestContext, st: EdgeState, cont: EdgeContinuation): Promise<void> {
    try {
      if (this.rateLimit !== null && !(await this.rateLimit.admit(ctx, st, cont))) return;
      if (ctx.done) return;
      if (this.cache !== null && (await this.cache.serve(ctx, st))) return;
      if (ctx.done) return;
      if (this.affinity !== null) {
        const pending = this.affinity.choose(ctx, st);
        if (pending !== undefined) await pending;
      }
    } catch (err) {
      // A feature bug must not lose the request: log it and forward as if the route had none.
      this.logger.error({ err: (err as Error).message, requestId: ctx.requestId }, "edge feature threw");
      ctx.preferred = -1;
    }
    if (!ctx.done && ctx.res !== null && !ctx.res.headersSent) cont.proceed(ctx);
  }

  onResponse(ctx: RequestContext, proxyRes: IncomingMessage): void {
    const st = ctx.edgeState as EdgeState | null;
    if (st === null) return;
    const headers = proxyRes.headers;
    if (this.affinity !== null) this.affinity.onResponse(ctx, st, headers);
    if (this.rateLimit !== null) this.rateLimit.onResponse(st, headers);
    if (this.cache !== null) this.cache.onResponse(ctx, st, proxyRes);
  }

  onHeaders(ctx: RequestContext, headers: IncomingHttpHeaders): void {
    const st = ctx.edgeState as EdgeState | null;
    if (st === null) return;
    if (this.affinity !== null) this.affinity.onResponse(ctx, st, headers);
    if (this.rateLimit !== null) this.rateLimit.onResponse(st, headers);
  }
}
