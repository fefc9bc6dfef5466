// The process logger: pino writing JSON lines to stdout (or a file) through an asynchronous,
// buffering sonic-boom destination: a log call on the request path is a buffer append, and
// lines go out in batches of >= 32 KiB or every 100 ms, whichever comes first. Writing every
// access line with its own write(2) cost about a third of the proxy's throughput in
// bench/proxy-bench. The destination is flushed synchronously on shutdown and fatal exits.
//
// Hand-built lines (the access log) do not go to sonic-boom one by one. sonic-boom keeps its
// pending data as one JS string until 32 KiB: every write appends to it (a cons string) and
// measures its byte length, which flattens it, so the pending text was copied again on every
// handover and, living tens of milliseconds, survived young-generation collections and was
// promoted (the access log was the largest source of promoted bytes per request in
// `npm run bench -- engine-profile`). Lines are encoded instead into one preallocated
// buffer outside the JS heap (EncodedLines): a line's string dies as soon as it is written,
// and sonic-boom gets one string per ~40 KiB (or per 100 ms), which it writes at once.
// A pino line (rare) first hands over the access lines before it, so the order holds.

import { type Logger, pino } from "pino";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface LoggerOptions {
  level: LogLevel;
  /** A file descriptor (default 1 = stdout) or a file path to append to. */
  destination?: number | string;
  /** Synchronous writes (tests that read stdout line by line right after an event). Default false. */
  sync?: boolean;
}

export interface ProcessLogger {
  readonly logger: Logger;
  /** Where hand-built JSON lines go (the access log): pino's destination, batched per event-loop turn. */
  readonly lines: { write(line: string): void };
  /** Writes out everything buffered; safe to call from exit paths. */
  flush(): void;
}

/**
 * Room for access lines before they are handed over. A batch is handed over once the next line
 * might not fit, so at more than 40 KiB minus three bytes per character of a line: past
 * sonic-boom's minLength (32 KiB) for lines up to about 2,700 characters, so sonic-boom writes
 * each batch at once instead of appending the next one to it.
 */
const BATCH_BYTES = 40 * 1024;
/** The longest a line waits in the batch (sonic-boom's own periodic flush adds at most as much). */
const BATCH_MS = 100;

/**
 * Access lines encoded as UTF-8 into one buffer and handed to the destination as one string
 * per batch. A synchronous destination gets every line at once (tests read them right away).
 */
class EncodedLines {
  private readonly buf: Buffer;
  private used = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armed = false;
  private readonly onTimer = (): void => {
    this.armed = false;
    this.drain();
  };

  constructor(
    private readonly dest: { write(s: string): unknown },
    private readonly batch: boolean,
  ) {
    this.buf = batch ? Buffer.allocUnsafeSlow(BATCH_BYTES) : Buffer.alloc(0);
  }

  write(line: string): void {
    if (!this.batch) {
      this.dest.write(line);
      return;
    }
    // A UTF-16 unit takes at most 3 bytes in UTF-8: hand over first when the line might not fit.
    if (this.used + line.length * 3 > BATCH_BYTES) {
      this.drain();
      if (line.length * 3 > BATCH_BYTES) {
        this.dest.write(line);
        return;
      }
    }
    this.used += this.buf.write(line, this.used, "utf8");
    if (this.armed) return;
    this.armed = true;
    // One timer object for the process, re-armed: no allocation per batch.
    if (this.timer === null) {
      this.timer = setTimeout(this.onTimer, BATCH_MS);
      this.timer.unref();
    } else this.timer.refresh();
  }

  /** Hands everything pending to the destination now. */
  drain(): void {
    if (this.used === 0) return;
    const s = this.buf.toString("utf8", 0, this.used);
    this.used = 0;
    this.dest.write(s);
  }
}

export function createProcessLogger(opts: LoggerOptions): ProcessLogger {
  const sync = opts.sync ?? false;
  const dest = pino.destination({
    dest: opts.destination ?? 1,
    sync,
    // Batching only applies to asynchronous writes (sonic-boom refuses minLength with sync).
    // 32 KiB batches: each asynchronous write is a thread-pool round trip (futex wake-ups,
    // a completion on the loop); at 4 KiB one went out every ~12 access lines, a visible
    // share of the proxy's CPU per request. The 100 ms flush still bounds a line's delay.
    ...(sync ? {} : { minLength: 32 * 1024, maxWrite: 64 * 1024, periodicFlush: 100 }),
  });
  const lines = new EncodedLines(dest, !sync);
  // pino's own lines first hand over the access lines written before them (order kept).
  const ordered = {
    write(s: string): void {
      lines.drain();
      dest.write(s);
    },
  };
  const logger = pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      // Epoch milliseconds (pino's default): an ISO string costs a Date format per line, about
      // 3 us of CPU per access line under load; every log pipeline reads epoch ms.
      timestamp: pino.stdTimeFunctions.epochTime,
      // "level":"info" reads better in a terminal and in Loki than "level":30.
      formatters: { level: (label) => ({ level: label }) },
    },
    ordered,
  );
  // A log write that fails (stdout redirected to a full disk: ENOSPC; a file over its size
  // limit: EFBIG) was an unhandled 'error' event: the process crashed and stopped serving.
  // Lines that cannot be written are dropped; serving goes on; stderr says so once per streak.
  let writeFailed = false;
  dest.on("error", (err: NodeJS.ErrnoException) => {
    writeFailed = true;
    onLogWriteError(err);
  });
  return {
    logger,
    lines,
    flush() {
      // After a failed write sonic-boom's flushSync waits for it forever (SIGTERM hung).
      if (writeFailed) return;
      lines.drain();
      try {
        dest.flushSync();
      } catch {
        // flushSync throws if the destination is not ready yet (nothing written): nothing to flush.
      }
    },
  };
}

let logWriteFailing = false;

function onLogWriteError(err: NodeJS.ErrnoException): void {
  if (logWriteFailing) return;
  logWriteFailing = true;
  try {
    process.stderr.write(
      `shardgate: cannot write the log (${err.code ?? err.message}); log lines are dropped, serving goes on\n`,
    );
  } catch {
    // stderr may be on the same full disk
  }
  // One notice per minute at most while it keeps failing.
  setTimeout(() => {
    logWriteFailing = false;
  }, 60_000).unref();
}
