// Deadlines of many open requests or answers kept without a timer each: the watched records
// sit in an OpenRequests table (a slot per record, no Map churn per request) and one coarse,
// unref'd interval looks at all of them. The interval starts with the first record and stops
// at a tick that finds the table empty (not at the moment it empties: a client sending one
// request at a time would otherwise pay a new interval per request), or at close().

import { OpenRequests, type OpenSlot } from "../forward/open-requests.js";

export class CoarseWatch<T extends OpenSlot> {
  readonly open = new OpenRequests<T>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly periodMs: number;

  /**
   * `look` runs every timeoutMs / 4 (25 ms to 1 s) with the table, while it holds records; a
   * deadline is so met within a quarter of the timeout.
   */
  constructor(
    timeoutMs: number,
    private readonly look: (now: number, open: OpenRequests<T>) => void,
  ) {
    this.periodMs = Math.max(25, Math.min(1000, Math.floor(timeoutMs / 4)));
  }

  add(r: T): void {
    this.open.add(r);
    if (this.timer === null) {
      this.timer = setInterval(this.tick, this.periodMs);
      this.timer.unref();
    }
  }

  delete(r: T): void {
    this.open.delete(r);
  }

  close(): void {
    this.stop();
    for (const r of [...this.open]) this.open.delete(r);
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly tick = (): void => {
    if (this.open.size === 0) this.stop();
    else this.look(performance.now(), this.open);
  };
}
