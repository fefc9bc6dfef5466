// stdout and stderr may be closed under a running process (a log shipper restarted, the
// terminal gone, `| head`): a write then fails with EPIPE, emitted as an 'error' event on the
// stream. With no listener that event is an uncaught exception, and the fatal handler's own
// lines went to the same closed streams: with both closed, the process spun forever at 100%
// CPU failing to report its failure to report (and never exited on SIGTERM). The streams'
// errors are taken here: lines that cannot be written are lost, the process goes on.

let guarded = false;

function noop(): void {}

/** Makes EPIPE (any error) on stdout/stderr harmless (idempotent). */
export function guardStdStreams(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on("error", noop);
  process.stderr.on("error", noop);
}

/**
 * Prints `text` and a newline on stdout for a command whose output is its result (`ctl --json
 * state > state.json`, `ring simulate --json`), and resolves with the write's error, if any.
 * console.log drops write errors: `ctl --json state` onto a full disk (ENOSPC) exited 0 with an
 * empty file, and a script went on with it. A reader that left (EPIPE, `| head -1`) is no
 * failure of the command: resolved as success, the rest of the output is not wanted.
 */
export function printOut(text: string): Promise<NodeJS.ErrnoException | undefined> {
  guardStdStreams();
  return new Promise((resolve) => {
    process.stdout.write(`${text}\n`, (err) => {
      const e = (err ?? undefined) as NodeJS.ErrnoException | undefined;
      resolve(e?.code === "EPIPE" ? undefined : e);
    });
  });
}

/** The line a command prints on stderr when its result could not be written to stdout. */
export function outputFailed(command: string, err: NodeJS.ErrnoException): string {
  return `shardgate ${command}: cannot write the output to stdout: ${err.code ?? err.message}${err.code === "ENOSPC" ? " (no space left on device)" : ""}`;
}
