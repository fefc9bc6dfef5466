// One bound on every stop: after a stop signal the process is gone within the drain deadline
// plus STOP_CLOSE_MS, whatever is blocked. The drain itself is bounded (shutdown.ts), but
// what follows it awaited things that had no bound of their own: a start still reading its
// config, a Consul or Redis call, the Raft node's last write, a hook that never settles. One
// of them hanging left a SIGTERMed process running for ever. The timer is armed by the first
// stop signal (during start too) and, if the stop has not finished by then, logs what it
// was waiting for and exits 1 at once. (Reads that would park a thread-pool thread, which a
// process exit must join, are kept off the pool: config/file/read-text.ts.)

import { testDurationMs } from "../test-duration.js";

/** How long shutdown waits for in-flight requests unless told (no config key exists for it). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/**
 * After the drain deadline: closing the admin port, Raft, Redis, the log. A test that waits
 * for the bound shortens it with SHARDGATE_TEST_STOP_CLOSE_MS (../test-duration.ts).
 */
export const STOP_CLOSE_MS = testDurationMs("STOP_CLOSE_MS", 5_000);

export interface StopDeadline {
  /** The stop finished in time: nothing to do. */
  clear(): void;
}

/**
 * Arms the bound: `drainTimeoutMs + STOP_CLOSE_MS` from now, `onExpired` runs (it should say
 * so in the log, quickly) and the process exits 1. The timer is ref'd: it is the one thing
 * sure to run if everything else is stuck.
 */
export function armStopDeadline(
  drainTimeoutMs: number,
  onExpired: (afterMs: number) => Promise<void> | void,
): StopDeadline {
  const afterMs = drainTimeoutMs + STOP_CLOSE_MS;
  const timer = setTimeout(() => {
    // The report gets at most a quarter second: the bound is the point.
    const exit = (): never => process.exit(1);
    setTimeout(exit, 250).unref();
    void Promise.resolve()
      .then(() => onExpired(afterMs))
      .then(exit, exit);
  }, afterMs);
  return { clear: () => clearTimeout(timer) };
}
