// A breaker around the shared store: after `failures` consecutive failed commands the store
// is not asked for `openFor`; then one probe command is let through, and its outcome closes
// or re-opens the breaker. While Redis is down this turns "every request waits up to the
// command timeout" into "no request waits at all". Clock injected for tests.

export class StoreBreaker {
  private consecutive = 0;
  private openUntil = 0;
  private probing = false;

  constructor(
    private readonly failures: number,
    private readonly openForMs: number,
    private readonly now: () => number,
  ) {}

  /** Whether a command may be sent now (claims the probe slot when half-open). */
  allow(): boolean {
    if (this.openUntil === 0) return true;
    if (this.now() < this.openUntil || this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.consecutive = 0;
    this.openUntil = 0;
    this.probing = false;
  }

  failure(): void {
    this.consecutive++;
    if (this.probing || this.consecutive >= this.failures) {
      this.openUntil = this.now() + this.openForMs;
      this.probing = false;
    }
  }

  get open(): boolean {
    return this.openUntil !== 0;
  }
}
