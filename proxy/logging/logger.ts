// The process logger: pino writing JSON lines to stdout (or a file) through an asynchronous,
// buffering sonic-boom destination: a log call on the request path is a buffer append, and
// lines go out in batches of >= 32 KiB or every 100 ms, whichever comes first. Writing every
// access line with its own write(2) cost about a third of the proxy's throughput in
// bench/proxy-bench. The destination is flushed synchronously on shutdown and fatal exits.
//
// Hand-built lines (the access log) do not go to sonic-boom one by one: its write() measures
// the byte length of its whole pending chunk (up to 16 KiB) on every call, about 2 us per line.
// They are joined into one string per event-loop turn and handed over once (TurnBatchedLines).

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

/** Lines past this many characters in one turn are handed over at once, bounding the pending string. */
const TURN_BATCH_CHARS = 16_384;

/**
 * Joins lines written during one event-loop turn and hands them to the destination in one
 * write at the end of the turn (setImmediate), or as soon as the batch is large. Lines keep
 * their order; a synchronous destination gets every line at once (tests read them right away).
 */
class TurnBatchedLines {
  private pending = "";
  private scheduled = false;
  private readonly endOfTurn = (): void => {
    this.scheduled = false;
    this.drain();
  };

  constructor(
    private readonly dest: { write(s: string): unknown },
    private readonly batch: boolean,
  ) {}

  write(line: string): void {
    if (!this.batch) {
      this.dest.write(line);
      return;
    }
    this.pending += line;
    if (this.pending.length >= TURN_BATCH_CHARS) this.drain();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.endOfTurn);
    }
  }

  /** Hands everything pending to the destination now. */
  drain(): void {
    if (this.pending === "") return;
    const s = this.pending;
    this.pending = "";
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
    dest,
  );
  // A log write that fails (stdout redirected to a full disk: ENOSPC; a file over its size
  // limit: EFBIG) was an unhandled 'error' event: the process crashed and stopped serving.
  // Lines that cannot be written are dropped; serving goes on; stderr says so once per streak.
  let writeFailed = false;
  dest.on("error", (err: NodeJS.ErrnoException) => {
    writeFailed = true;
    onLogWriteError(err);
  });
  const lines = new TurnBatchedLines(dest, !sync);
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
