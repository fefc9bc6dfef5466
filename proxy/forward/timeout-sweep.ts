// Upstream connect and response timeouts without a timer per request: contexts waiting for
// an upstream response sit in one intrusive list, and a single coarse interval (undici's
// idea in lib/util/timers.js) checks their deadlines. A context leaves the list when the
// response headers arrive or the request ends. The connect deadline runs from the attempt's
// start, the response deadline from the moment the request body was fully sent (sentAt):
// while the client is still uploading, only the listener's request timeout applies.
//
// Contexts are appended as their attempts start, so the list is in attempt-start order (FIFO,
// as nginx's timer tree and undici's fast timers rely on for one duration): no deadline can
// have passed for a context that started less than the shortest timeout ago, nor for any after
// it, so a tick stops there. Add and remove are O(1), a tick O(expired + the few in front).
// An out-of-order add (an injected clock) turns the early stop off until the list empties.

import type { RequestContext } from "./request-context.js";

export type TimeoutHandler = (ctx: RequestContext, kind: "connect" | "timeout") => void;

export class TimeoutSweep {
  private head: RequestContext | null = null;
  private tail: RequestContext | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The shortest connect or response timeout of any context added (only ever lowered). */
  private shortestMs = Number.POSITIVE_INFINITY;
  /** The list is in attempt-start order (the tick may stop early). */
  private ordered = true;

  constructor(
    private readonly resolutionMs: number,
    private readonly now: () => number,
    private readonly onTimeout: TimeoutHandler,
  ) {}

  add(ctx: RequestContext): void {
    if (ctx.inSweep) return;
    ctx.inSweep = true;
    const settings = ctx.snapshot?.settings.timeouts;
    if (settings !== undefined) {
      const shortest = Math.min(settings.connect, settings.response);
      if (shortest < this.shortestMs) this.shortestMs = shortest;
    }
    const tail = this.tail;
    if (tail !== null && ctx.attemptStartedAt < tail.attemptStartedAt) this.ordered = false;
    ctx.next = null;
    ctx.prev = tail;
    if (tail !== null) tail.next = ctx;
    else this.head = ctx;
    this.tail = ctx;
    if (this.timer === null) {
      this.timer = setInterval(this.tick, this.resolutionMs);
      this.timer.unref();
    }
  }

  remove(ctx: RequestContext): void {
    if (!ctx.inSweep) return;
    ctx.inSweep = false;
    if (ctx.prev !== null) ctx.prev.next = ctx.next;
    else this.head = ctx.next;
    if (ctx.next !== null) ctx.next.prev = ctx.prev;
    else this.tail = ctx.prev;
    ctx.prev = null;
    ctx.next = null;
    if (this.head === null) this.ordered = true;
  }

  private readonly tick = (): void => {
    if (this.head === null) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const now = this.now();
    let ctx: RequestContext | null = this.head;
    while (ctx !== null) {
      const next: RequestContext | null = ctx.next;
      const waited = now - ctx.attemptStartedAt;
      // Started less than the shortest timeout ago: neither it nor anyone behind it is due.
      if (this.ordered && waited < this.shortestMs) break;
      const settings = ctx.snapshot?.settings.timeouts;
      if (settings !== undefined && !ctx.responseStarted && ctx.timedOut === null) {
        const socket = ctx.proxyReq?.socket;
        if (socket?.connecting && waited >= settings.connect) {
          this.onTimeout(ctx, "connect");
        } else if (ctx.sentAt >= 0 && now - ctx.sentAt >= settings.response) {
          this.onTimeout(ctx, "timeout");
        }
      }
      ctx = next;
    }
  };

  /** Empties the list and returns what it held, in attempt-start order (the shutdown's cut). */
  takeAll(): RequestContext[] {
    const all: RequestContext[] = [];
    for (let ctx = this.head; ctx !== null; ctx = this.head) {
      this.remove(ctx);
      all.push(ctx);
    }
    return all;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.head = null;
    this.tail = null;
    this.ordered = true;
  }
}
