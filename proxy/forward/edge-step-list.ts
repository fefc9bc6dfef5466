// The requests in their route's edge step (rate limit, shared cache, affinity: each may wait on
// Redis) between accept and their first attempt. Nothing else knows of them there: they are in
// no member pool and not yet in the timeout sweep, so the shutdown's drain deadline closed
// their connections under them and the client got a reset, logged 499. The data plane's close
// takes them from this list and answers them 503 shutting_down like every other request it cuts.
// An intrusive list on the context's own fields: add and remove are O(1) and allocate nothing.

import type { RequestContext } from "./request-context.js";

export class EdgeStepList {
  private head: RequestContext | null = null;

  add(ctx: RequestContext): void {
    if (ctx.inEdgeStep) return;
    ctx.inEdgeStep = true;
    ctx.edgePrev = null;
    ctx.edgeNext = this.head;
    if (this.head !== null) this.head.edgePrev = ctx;
    this.head = ctx;
  }

  remove(ctx: RequestContext): void {
    if (!ctx.inEdgeStep) return;
    ctx.inEdgeStep = false;
    if (ctx.edgePrev !== null) ctx.edgePrev.edgeNext = ctx.edgeNext;
    else this.head = ctx.edgeNext;
    if (ctx.edgeNext !== null) ctx.edgeNext.edgePrev = ctx.edgePrev;
    ctx.edgePrev = null;
    ctx.edgeNext = null;
  }

  /** Empties the list and returns what it held (the shutdown's cut). */
  takeAll(): RequestContext[] {
    const all: RequestContext[] = [];
    for (let ctx = this.head; ctx !== null; ctx = this.head) {
      this.remove(ctx);
      all.push(ctx);
    }
    return all;
  }
}
