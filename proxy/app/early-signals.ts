// Signals that arrive while `start` is still starting. Until the running app installs its own
// handlers, Node's default for SIGHUP, SIGTERM and SIGINT is to end the process at once: a
// HUP storm from config management killed instances mid-start, and a SIGTERM sent right after
// the "listening" line (before the handlers were installed) ended the process without its
// exit work, leaving the data directory's LOCK behind. The CLI holds all three from its first
// line; once the app runs, a held SIGHUP becomes a reload (the file may have changed after
// start read it) and a held stop signal becomes a drain that begins at once. A second stop
// signal during start means "now": the process exits (its exit handlers still run).
// Kept tiny: the CLI imports it before loading any command.

export interface HeldSignals {
  /** A SIGHUP arrived during start. */
  hup: boolean;
  /** The first stop signal that arrived during start, if any. */
  stop: NodeJS.Signals | null;
}

let held = false;
let pending: HeldSignals = { hup: false, stop: null };

function onHup(): void {
  pending.hup = true;
}

function onStop(signal: NodeJS.Signals): void {
  if (pending.stop !== null) {
    process.stderr.write(`shardgate: second stop signal (${signal}) during start: exiting now\n`);
    process.exit(1);
  }
  pending.stop = signal;
  process.stderr.write(`shardgate: ${signal} during start: stopping as soon as the start completes\n`);
  // A start that never completes (its config a FIFO nobody writes, a dead mount) must not
  // hold the stop for ever: the same bound as a running stop (stop-deadline.ts).
  startDeadline = setTimeout(() => {
    process.stderr.write(
      `shardgate: stop_deadline: the start did not complete within ${startDeadlineMs} ms of ${signal}; exiting 1\n`,
    );
    process.exit(1);
  }, startDeadlineMs);
}

/** drain deadline + STOP_CLOSE_MS (stop-deadline.ts), set by `start` once its flags are read. */
let startDeadlineMs = 15_000;
let startDeadline: NodeJS.Timeout | undefined;

/** The bound on a stop signal held during start (the drain deadline plus the close allowance). */
export function setStartStopDeadline(ms: number): void {
  startDeadlineMs = ms;
}

/** Remembers SIGHUP, SIGTERM and SIGINT instead of dying of them (idempotent). */
export function holdSignals(): void {
  if (held) return;
  held = true;
  process.on("SIGHUP", onHup);
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
}

/**
 * Stops holding and says what arrived meanwhile. Install the app's own handlers first: with
 * no listener at all for an instant, a signal in that instant would end the process.
 */
export function releaseSignals(): HeldSignals {
  if (held) {
    process.off("SIGHUP", onHup);
    process.off("SIGTERM", onStop);
    process.off("SIGINT", onStop);
  }
  held = false;
  // The app took over: a held stop now runs under the app's own deadline.
  clearTimeout(startDeadline);
  startDeadline = undefined;
  const was = pending;
  pending = { hup: false, stop: null };
  return was;
}
