// Signals a proxy has no use for, whose Node defaults do harm. SIGUSR1 starts the V8
// inspector on 127.0.0.1:9229: anyone able to signal the process (or a stray `kill -USR1`
// meant for another daemon) would open a debugger on a production proxy, which runs any code
// sent to it. SIGUSR2's default ends the process at once, without its exit work (the data
// directory's LOCK stays behind, in-flight requests are cut). Both are taken and reported
// instead; debugging is still possible by starting with `node --inspect`. SIGPIPE is already
// ignored by Node (a write to a closed pipe is an EPIPE error, see std-streams.ts).
// Installed from the first line of `start` and of every worker, and kept for the process life.

type Report = (signal: NodeJS.Signals) => void;

const STRAY: readonly NodeJS.Signals[] = ["SIGUSR1", "SIGUSR2"];

let report: Report = (signal) => {
  try {
    process.stderr.write(`shardgate: ${signal} ignored (no inspector, no exit; see README "Signals")\n`);
  } catch {
    // stderr closed: nothing to tell
  }
};
let installed = false;

function onStray(signal: NodeJS.Signals): void {
  report(signal);
}

/** Takes SIGUSR1 and SIGUSR2 for good (idempotent). */
export function quietStraySignals(): void {
  if (installed) return;
  installed = true;
  for (const s of STRAY) process.on(s, onStray);
}

/** Where a stray signal is reported from now on (the running app's logger). */
export function reportStraySignalsTo(r: Report): void {
  report = r;
}
