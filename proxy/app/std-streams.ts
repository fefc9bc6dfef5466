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
