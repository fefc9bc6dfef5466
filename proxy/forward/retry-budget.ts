// A pool's retry budget (Envoy's retry_budget / Finagle's RetryBudget): retries may add at
// most `ratio` of the first tries seen in the last few seconds, but `minPerSecond` retries
// per second are always allowed, so a dead member cannot turn every request into N.

const WINDOW_MS = 10_000;

export class RetryBudget {
  private windowStart = 0;
  private requests = 0;
  private retries = 0;
  private secondStart = 0;
  private retriesThisSecond = 0;

  constructor(
    private readonly ratio: number,
    private readonly minPerSecond: number,
  ) {}

  recordRequest(now: number): void {
    this.roll(now);
    this.requests++;
  }

  /** Takes one retry if the budget allows it. */
  tryTake(now: number): boolean {
    this.roll(now);
    if (this.retriesThisSecond < this.minPerSecond || this.retries < this.ratio * this.requests) {
      this.retries++;
      this.retriesThisSecond++;
      return true;
    }
    return false;
  }

  private roll(now: number): void {
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.requests = 0;
      this.retries = 0;
    }
    if (now - this.secondStart >= 1000) {
      this.secondStart = now;
      this.retriesThisSecond = 0;
    }
  }
}
