// Pending ReadIndex requests on the leader (thesis §6.4): each records the commit index at
// arrival and waits until a quorum of voters answered a heartbeat carrying its context, which
// proves this node was still the leader after the read arrived.
import type { NodeId } from "../types.js";

export interface PendingRead {
  readonly key: string;
  readonly index: number;
  readonly from: NodeId;
  readonly ctx: Uint8Array;
  readonly acks: Set<NodeId>;
}

export class ReadOnlyQueue {
  private readonly byKey = new Map<string, PendingRead>();
  private queue: PendingRead[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Returns false if a read with the same context is already pending. */
  add(index: number, from: NodeId, ctx: Uint8Array): PendingRead | undefined {
    const key = ctxKey(ctx);
    if (this.byKey.has(key)) return undefined;
    const r: PendingRead = { key, index, from, ctx, acks: new Set() };
    this.byKey.set(key, r);
    this.queue.push(r);
    return r;
  }

  /** The newest pending read's context: a quorum acking it confirms every read before it too. */
  newestCtx(): Uint8Array | undefined {
    return this.queue.length === 0 ? undefined : this.queue[this.queue.length - 1].ctx;
  }

  get(ctx: Uint8Array): PendingRead | undefined {
    return this.byKey.get(ctxKey(ctx));
  }

  /** Removes and returns every read queued up to and including `r` (earlier reads are confirmed too). */
  releaseThrough(r: PendingRead): PendingRead[] {
    const k = this.queue.indexOf(r);
    if (k < 0) return [];
    const done = this.queue.slice(0, k + 1);
    this.queue = this.queue.slice(k + 1);
    for (const d of done) this.byKey.delete(d.key);
    return done;
  }

  /** Forgets `id`'s confirmations (its data directory was replaced: they were another disk's). */
  dropAcks(id: NodeId): void {
    for (const r of this.queue) r.acks.delete(id);
  }

  clear(): void {
    this.byKey.clear();
    this.queue = [];
  }
}

const HEX = "0123456789abcdef";

export function ctxKey(ctx: Uint8Array): string {
  let s = "";
  for (let i = 0; i < ctx.length; i++) s += HEX[ctx[i] >> 4] + HEX[ctx[i] & 15];
  return s;
}
