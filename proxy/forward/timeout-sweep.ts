// Upstream connect and response timeouts without a timer per request: contexts waiting for
// an upstream response sit in one intrusive list, and a single coarse interval (undici's
// idea in lib/util/timers.js) checks their deadlines. A context leaves the list when the
// response headers arrive or the request ends. The connect deadline runs from the attempt's
// start, the response deadline from the moment the request body was fully sent (sentAt):
// while the client is still uploading, only the listener's request timeout applies.

import type { RequestContext } from "./request-context.js";

export type TimeoutHandler = (ctx: RequestContext, kind: "connect" | "timeout") => void;

export class TimeoutSweep {
  private head: RequestContext | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly resolutionMs: number,
    private readonly now: () => number,
    private readonly onTimeout: TimeoutHandler,
  ) {}

  add(ctx: RequestContext): void {
    if (ctx.inSweep) return;
    ctx.inSweep = true;
    ctx.prev = null;
    ctx.next = this.head;
    if (this.head !== null) this.head.prev = ctx;
    this.head = ctx;
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
    ctx.prev = null;
    ctx.next = null;
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
      const settings = ctx.snapshot?.settings.timeouts;
      if (settings !== undefined && !ctx.responseStarted && ctx.timedOut === null) {
        const waited = now - ctx.attemptStartedAt;
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

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.head = null;
  }
}
