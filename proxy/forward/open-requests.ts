// The set of requests between onRequestStart and onRequestEnd, for the in-flight gauges read
// at scrape time. Not a Set: a JS Set or Map with one add and one delete per request rehashes
// its table every few dozen requests, and V8 links each retired table to its successor (for
// live iterators). Retired tables that were promoted to the old generation stay there, dead,
// until the next mark-compact, and a scavenge treats their pointers as roots: through that
// chain every request finished since (its context, IncomingMessage, ServerResponse, undici
// request) survived young-generation collections and was promoted, about 3 KB per request
// (`npm run bench -- engine-profile`; README "Forwarding engine"). Here a request takes a
// slot in one array (its index is kept on the record) and gives it back at the end: no table
// is ever replaced, and a finished request is referenced by nothing.

/** A record that can sit in an OpenRequests table: the table writes its slot index here. */
export interface OpenSlot {
  /** Index in the OpenRequests table holding this record, or -1. Written only by that table. */
  openSlot: number;
}

export class OpenRequests<T extends OpenSlot> {
  /** Slot -> record, null for a free slot; grows to the peak number of open requests. */
  private readonly slots: Array<T | null> = [];
  /** Free slot indices, used last-in first-out so the open records stay at low indices. */
  private readonly free: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(r: T): void {
    if (r.openSlot >= 0 && this.slots[r.openSlot] === r) return;
    const i = this.free.pop();
    if (i === undefined) {
      r.openSlot = this.slots.length;
      this.slots.push(r);
    } else {
      r.openSlot = i;
      this.slots[i] = r;
    }
    this.count++;
  }

  delete(r: T): void {
    const i = r.openSlot;
    if (i < 0 || this.slots[i] !== r) return;
    this.slots[i] = null;
    this.free.push(i);
    r.openSlot = -1;
    this.count--;
  }

  /** The open records (at scrape time, not on the request path). */
  *[Symbol.iterator](): IterableIterator<T> {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const r = slots[i];
      if (r !== null) yield r;
    }
  }
}
