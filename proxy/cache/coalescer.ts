// Request coalescing: while one request for a URL is being fetched to fill the cache, the
// other misses for it on this instance wait for that one response instead of each going
// upstream (a hundred concurrent misses, one upstream request). Waiting is bounded; a fill
// that turns out not storable releases the waiters to go upstream on their own.

import type { CacheEntry } from "./cache-entry.js";

export interface FillResult {
  entry: CacheEntry;
  /** The leader's values of the entry's Vary headers: a waiter with other values cannot use it. */
  varyValues: string;
}

export class Fill {
  settled = false;
  readonly done: Promise<FillResult | null>;
  private resolveFn!: (r: FillResult | null) => void;
  constructor() {
    this.done = new Promise((r) => {
      this.resolveFn = r;
    });
  }
  settle(r: FillResult | null): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn(r);
  }
}

export class Coalescer {
  private readonly fills = new Map<string, Fill>();

  /** The fill in progress for `tag`, if any. */
  pending(tag: string): Fill | undefined {
    return this.fills.get(tag);
  }

  /** Starts a fill for `tag` that this request leads. */
  lead(tag: string): Fill {
    const fill = new Fill();
    this.fills.set(tag, fill);
    void fill.done.then(() => {
      if (this.fills.get(tag) === fill) this.fills.delete(tag);
    });
    return fill;
  }

  get size(): number {
    return this.fills.size;
  }
}

/** The fill's result, or null after `ms`. */
export function waitFill(fill: Fill, ms: number): Promise<FillResult | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), ms);
  });
  return Promise.race([fill.done, timeout]).finally(() => clearTimeout(timer));
}
