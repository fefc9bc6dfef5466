// A `lookup` wrapper that knows which names its client is still resolving. A client's own
// timeout can fire while the bounded lookup (bounded-lookup.ts, up to its 5 s bound) is
// still waiting on DNS: Sentinel's 1 s connectTimeout, the fleet view's per-peer bound. The
// error the client then reports ("connect ETIMEDOUT", "The operation was aborted due to
// timeout") says nothing about DNS; with this wrapper it can name the lookup instead
// (`pendingError`). One instance per client, so one client's names do not explain another's.

import type { LookupAddress } from "node:dns";

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
type LookupFn = (hostname: string, options: unknown, callback: LookupCallback) => void;

export class PendingLookups {
  /** Lower-cased name -> when its oldest pending lookup started (ms, performance.now). */
  private readonly pending = new Map<string, { since: number; count: number }>();
  /** Bound once: handed to the client as its `lookup`. */
  readonly lookup: LookupFn;

  constructor(inner: LookupFn) {
    this.lookup = (hostname, options, callback) => {
      const cb = (typeof options === "function" ? options : callback) as LookupCallback;
      const opts = typeof options === "function" ? undefined : options;
      const key = hostname.toLowerCase();
      const entry = this.pending.get(key);
      if (entry === undefined) this.pending.set(key, { since: performance.now(), count: 1 });
      else entry.count++;
      let done = false;
      inner(hostname, opts, (err, address, family) => {
        if (!done) {
          done = true;
          const e = this.pending.get(key);
          if (e !== undefined && --e.count === 0) this.pending.delete(key);
        }
        cb(err, address, family);
      });
    };
  }

  /** How long the oldest pending lookup of `hostname` has waited (ms), or undefined if none is. */
  pendingFor(hostname: string): number | undefined {
    const e = this.pending.get(hostname.toLowerCase());
    return e === undefined ? undefined : Math.round(performance.now() - e.since);
  }

  /**
   * An error naming the DNS lookup of `hostname` if one is still pending (the client's own
   * timeout fired first), else undefined: the client's error is then the right one.
   */
  pendingError(hostname: string, what: string): Error | undefined {
    const ms = this.pendingFor(hostname);
    if (ms === undefined) return undefined;
    return Object.assign(new Error(`DNS lookup of ${hostname} still pending after ${ms} ms (${what})`), {
      code: "EDNS_PENDING",
      hostname,
    });
  }
}
