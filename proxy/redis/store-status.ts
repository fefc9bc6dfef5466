// What an operator sees of the shared store's health: one warn line when Redis becomes
// unavailable (a refused or dropped connection, a wrong password, a frozen server timing
// commands out, error replies such as OOM), repeated with the latest reason at most every
// 10 s, and one info line when Redis answers after a logged failure. A Redis that fails
// some commands only (OOM refuses writes, reads still answer) flaps between the two: the
// 10 s bound holds across the flaps, so that is at most two lines per 10 s, never one per request.
// Without it, a Redis that never became ready (wrong password, down at start) was silent:
// the features fell back (ring / fail open / miss) and only counters moved.

import type { LogSink } from "../../config/log-sink.js";

const REPEAT_MS = 10_000;

export class StoreStatus {
  /** False from the first failure until a command succeeds again. */
  available = true;
  private lastLog = Number.NEGATIVE_INFINITY;
  private loggedDown = false;

  constructor(
    private readonly logger: LogSink,
    private readonly now: () => number,
  ) {}

  failed(reason: string): void {
    const t = this.now();
    this.available = false;
    if (t - this.lastLog < REPEAT_MS) return;
    this.lastLog = t;
    this.loggedDown = true;
    this.logger.warn(
      { err: reason },
      "redis unavailable: affinity falls back to the ring, rate limits apply onStoreError, the cache misses",
    );
  }

  succeeded(): void {
    if (this.available) return;
    this.available = true;
    if (!this.loggedDown) return;
    this.loggedDown = false;
    this.logger.info({}, "redis available again");
  }
}
