// A file written in place that will not hold still, for the tests of shardgate's wait for a
// file to settle (config reloads, listener certificates) across a wall-clock step: the content
// first, then a comment line at a fixed gap, each one a change the next look sees.

import assert from "node:assert/strict";
import { closeSync, openSync, writeSync } from "node:fs";
import type { ClockStep } from "./clock-step.js";
import type { LogLine, RunningShardgate } from "./shardgate-process.js";
import { scaled } from "./wait.js";

export interface KeptWriting {
  /** Stops the writing and closes the file; call it once, in a finally. */
  stop(): void;
}

/** Writes `content` into `path` in place, then `line(N)` (`# still writing N`) every `everyMs`. */
export function keepWriting(
  path: string,
  content: string,
  everyMs: number,
  line: (n: number) => string = (n) => `# still writing ${n}\n`,
): KeptWriting {
  const fd = openSync(path, "w");
  let writer: NodeJS.Timeout | undefined;
  try {
    writeSync(fd, content);
    let n = 0;
    writer = setInterval(() => writeSync(fd, line(++n)), everyMs);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return {
    stop: () => {
      clearInterval(writer);
      closeSync(fd);
    },
  };
}

export interface StepMidWait {
  /** What sets the wait going (a SIGHUP), after the log position is taken; none: it is going. */
  start?: () => void;
  /** The log line saying shardgate waits for the file. */
  waiting: { what: string; is: (l: LogLine) => boolean };
  /** The log line that ends the wait. */
  outcome: { what: string; is: (l: LogLine) => boolean };
  /** The wait's bound (SHARDGATE_FILE_SETTLE_MAX_MS); the outcome is awaited that plus 20 s, scaled. */
  maxMs: number;
}

/** Once shardgate logs that it waits for the file, steps the clock back an hour; returns the outcome line. */
export async function stepBackMidWait(
  sg: RunningShardgate,
  clock: ClockStep,
  o: StepMidWait,
): Promise<LogLine> {
  const from = sg.proc.lines.length;
  o.start?.();
  await sg.proc.waitForLine(o.waiting.what, o.waiting.is, undefined, from);
  clock.step("-1h");
  return sg.proc.waitForLine(o.outcome.what, o.outcome.is, o.maxMs + scaled(20_000), from);
}

/** The wait ended at its bound measured on the monotonic clock, not an hour later. */
export function assertWaitedToBound(waited: number, maxMs: number, settleMs: number): void {
  assert.ok(
    waited >= maxMs - settleMs && waited < 3_600_000,
    `waited ${waited} ms, measured across the step`,
  );
}
