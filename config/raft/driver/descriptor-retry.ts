// A write the driver must make but that found no file descriptor (EMFILE, ENFILE: the process's
// or the system's limit, storage/no-descriptor.ts): nothing reached the disk, so it is tried
// again after a pause (50 ms doubling to 1 s) until a descriptor is free, instead of stopping
// Raft as a failing disk would. Used for identity.json's one-time rewrites (driver.ts).

const MIN_PAUSE_MS = 50;
const MAX_PAUSE_MS = 1_000;

export class DescriptorRetry {
  private timer: NodeJS.Timeout | undefined;
  private pause = 0;
  private stopped = false;

  /** `run` is called from the timer; it must not throw (the caller turns errors into its own). */
  constructor(private readonly run: () => void) {}

  /** Whether a retry is scheduled (the write waits for it rather than trying on every pass). */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** Schedules the next try; true when this starts a streak (the caller warns once). */
  schedule(): boolean {
    if (this.stopped || this.timer !== undefined) return false;
    const first = this.pause === 0;
    this.pause = first ? MIN_PAUSE_MS : Math.min(this.pause * 2, MAX_PAUSE_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, this.pause);
    this.timer.unref();
    return first;
  }

  /** The write went through: the next shortage starts a new streak. */
  succeeded(): void {
    this.pause = 0;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
