// What an operator sees of the shared store's health: one warn line when Redis becomes
// unavailable (a refused or dropped connection, a wrong password, a frozen server timing
// commands out, error replies such as OOM), repeated with the latest reason at most every
// 10 s, and one info line when Redis answers after a logged failure. A Redis that fails
// some commands only (OOM refuses writes, reads still answer) flaps between the two: the
// 10 s bound holds across the flaps, so that is at most two lines per 10 s, never one per request.
// A failure of another kind than the one last logged (a timeout, then OOM: the reply's first
// word) is logged at once, at most once a second: the operator sees the new cause, not only
// the one that came first.
// Without it, a Redis that never became ready (wrong password, down at start) was silent:
// the features fell back (ring / fail open / miss) and only counters moved.

import type { LogSink } from "../../config/log-sink.js";

const REPEAT_MS = 10_000;
const NEW_KIND_MS = 1_000;

/** A failure's kind: its first word ("OOM", "WRONGPASS", "Command timed out" -> "Command"). */
function kindOf(reason: string): string {
  const space = reason.indexOf(" ");
  return space < 0 ? reason : reason.slice(0, space);
}

export class StoreStatus {
  /** False from the first failure until a command succeeds again. */
  available = true;
  private lastLog = Number.NEGATIVE_INFINITY;
  private loggedDown = false;
  private lastKind = "";

  constructor(
    private readonly logger: LogSink,
    private readonly now: () => number,
  ) {}

  failed(reason: string): void {
    const t = this.now();
    this.available = false;
    const kind = kindOf(reason);
    const since = t - this.lastLog;
    if (since < (kind === this.lastKind ? REPEAT_MS : NEW_KIND_MS)) return;
    this.lastLog = t;
    this.lastKind = kind;
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
