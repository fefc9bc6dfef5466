// Periodic upkeep of a cluster instance (shipping request outcomes to the leader, membership
// upkeep) driven by the Raft driver's heartbeat tick instead of timers of its own. Every timer
// of an idle process is a wake-up, and wake-ups were most of an idle instance's CPU: two
// timers of their own (100 ms and 250 ms) added 14 wake-ups a second to the tick's 20.
// A task runs on every n-th tick, n = round(intervalMs / heartbeatMs), at least 1; a task that
// wants to run more often than ticks come keeps a timer of its own.

export interface UpkeepTask {
  readonly name: string;
  readonly intervalMs: number;
  readonly run: () => void;
}

export class TickUpkeep {
  private ticks = 0;
  private readonly onTick: UpkeepTask[] = [];
  private readonly every: number[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    heartbeatMs: number,
    tasks: readonly UpkeepTask[],
    private readonly onError: (task: string, err: unknown) => void,
  ) {
    for (const t of tasks) {
      if (t.intervalMs < heartbeatMs) {
        const timer = setInterval(() => this.runTask(t), t.intervalMs);
        timer.unref();
        this.timers.push(timer);
      } else {
        this.onTick.push(t);
        this.every.push(Math.max(1, Math.round(t.intervalMs / heartbeatMs)));
      }
    }
  }

  /** How many ticks apart each tick-driven task runs, by name (for tests and the README). */
  get periods(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.onTick.length; i++) out[this.onTick[i].name] = this.every[i];
    return out;
  }

  /** Called once per driver tick. */
  tick(): void {
    this.ticks++;
    for (let i = 0; i < this.onTick.length; i++) {
      if (this.ticks % this.every[i] === 0) this.runTask(this.onTick[i]);
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    this.onTick.length = 0;
    this.every.length = 0;
  }

  // One failing task must not stop the others, nor throw into the driver's tick.
  private runTask(t: UpkeepTask): void {
    try {
      t.run();
    } catch (err) {
      this.onError(t.name, err);
    }
  }
}
