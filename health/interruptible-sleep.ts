// The pause a watcher loop takes between requests (rate limit, error backoff) that stop() can
// cut short, so a stopping watcher exits at once instead of after its longest backoff.

export class InterruptibleSleep {
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;

  /** Resolves after `ms`, or as soon as wake() is called. One sleep at a time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.wakeUp = undefined;
        resolve();
      };
      this.wakeUp = done;
      this.timer = setTimeout(done, ms);
    });
  }

  /** Ends the current sleep now (no-op when not sleeping). */
  wake(): void {
    this.wakeUp?.();
  }
}
