// A token bucket over an injected monotonic clock. The Consul watcher takes a token before
// every request so that neither a churning service nor a server that answers at once can turn
// the blocking-query loop into a busy loop (Consul's blocking-query docs recommend exactly this).

export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param ratePerSec tokens added per second (> 0)
   * @param burst bucket capacity (>= 1); the bucket starts full
   */
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly now: () => number,
  ) {
    if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec)) {
      throw new RangeError(`TokenBucket: ratePerSec must be a finite number > 0, got ${ratePerSec}`);
    }
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`TokenBucket: burst must be a finite number >= 1, got ${burst}`);
    }
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    const elapsed = t - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000);
    }
    this.last = t;
  }

  /** Takes one token if available: 0 when taken, else the ms to wait before one is available. */
  take(): number {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSec);
  }
}
