// The process logger: pino writing JSON lines to stdout (or a file) through an asynchronous,
// buffering sonic-boom destination: a log call on the request path is a buffer append, and
// lines go out in batches of >= 32 KiB or every 100 ms, whichever comes first. Writing every
// access line with its own write(2) cost about a third of the proxy's throughput in
// bench/proxy-bench.
//
// Whatever the destination does, the process must be able to exit (shutdown, fatal errors):
// - nothing on an exit path writes synchronously. sonic-boom's flushSync retries a failed write
//   forever (ENOSPC on a full disk), and pino.destination() calls it from a process 'exit' hook;
//   so the destination is built here, without that hook, and exits wait for an asynchronous
//   flush for a bounded time (flushWithin).
// - stdout on a pipe or socket (a stalled log shipper) is a non-blocking libuv stream
//   (stream-destination.ts): a blocking write(2) would park a thread-pool thread in the
//   kernel, and process.exit joins those threads, so even a forced exit hung.
// - at most MAX_BUFFERED_CHARS wait for a destination that does not take them; past that, new
//   lines are dropped (memory stays bounded), and stderr says so.
//
// Hand-built lines (the access log) do not go to sonic-boom one by one: its write() measures
// the byte length of its whole pending chunk (up to 16 KiB) on every call, about 2 us per line.
// They are joined into one string per event-loop turn and handed over once (TurnBatchedLines).

import { type Logger, type LoggerOptions as LoggerOptionsOfPino, pino } from "pino";
import sonicBoom from "sonic-boom";
import { isPipeOrSocket, openStreamDestination } from "./stream-destination.js";

// sonic-boom is CommonJS; its class is a property of its module object.
const { SonicBoom } = sonicBoom;

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
  /** Starts writing out everything buffered, without blocking (a failing destination cannot hang it). */
  flush(): void;
  /** Resolves once everything buffered is written, the destination failed, or `ms` passed. */
  flushWithin(ms: number): Promise<void>;
}

/** Log characters held for a destination that does not take them; past this, lines are dropped. */
const MAX_BUFFERED_CHARS = 16 * 1024 * 1024;

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

function pinoOptions(level: LogLevel): LoggerOptionsOfPino {
  return {
    level,
    base: { pid: process.pid },
    // Epoch milliseconds (pino's default): an ISO string costs a Date format per line, about
    // 3 us of CPU per access line under load; every log pipeline reads epoch ms.
    timestamp: pino.stdTimeFunctions.epochTime,
    // "level":"info" reads better in a terminal and in Loki than "level":30.
    formatters: { level: (label) => ({ level: label }) },
  };
}

/**
 * stdout on a pipe or socket: a non-blocking libuv stream (stream-destination.ts). pino's own
 * lines join the access lines' per-turn batches, so the stream gets one write per turn.
 */
function pipeLogger(level: LogLevel, fd: number): ProcessLogger {
  const dest = openStreamDestination(fd, MAX_BUFFERED_CHARS, onLogTrouble);
  const lines = new TurnBatchedLines(dest, true);
  const logger = pino(pinoOptions(level), { write: (s: string) => lines.write(s) });
  return {
    logger,
    lines,
    flush: () => lines.drain(),
    flushWithin(ms) {
      lines.drain();
      return dest.flushWithin(ms);
    },
  };
}

export function createProcessLogger(opts: LoggerOptions): ProcessLogger {
  const sync = opts.sync ?? false;
  const target = opts.destination ?? 1;
  if (!sync && typeof target === "number" && isPipeOrSocket(target)) return pipeLogger(opts.level, target);
  const dest = new SonicBoom({
    ...(typeof target === "number" ? { fd: target } : { dest: target }),
    sync,
    maxLength: MAX_BUFFERED_CHARS,
    // Batching only applies to asynchronous writes (sonic-boom refuses minLength with sync).
    // 32 KiB batches: each asynchronous write is a thread-pool round trip (futex wake-ups,
    // a completion on the loop); at 4 KiB one went out every ~12 access lines, a visible
    // share of the proxy's CPU per request. The 100 ms flush still bounds a line's delay.
    ...(sync ? {} : { minLength: 32 * 1024, maxWrite: 64 * 1024, periodicFlush: 100 }),
  });
  const logger = pino(pinoOptions(opts.level), dest);
  // A log write that fails (stdout redirected to a full disk: ENOSPC; a file over its size
  // limit: EFBIG) was an unhandled 'error' event: the process crashed and stopped serving.
  // Lines that cannot be written are dropped; serving goes on; stderr says so once per streak.
  dest.on("error", (err: NodeJS.ErrnoException) => onLogTrouble(err.code ?? err.message));
  dest.on("drop", () => onLogTrouble("the destination does not keep up"));
  const lines = new TurnBatchedLines(dest, !sync);
  const flush = (): void => {
    lines.drain();
    if (sync) return;
    try {
      dest.flush();
    } catch {
      // not open yet (a file path still opening): its first write flushes it
    }
  };
  return {
    logger,
    lines,
    flush,
    flushWithin(ms) {
      lines.drain();
      if (sync) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        try {
          dest.flush(() => {
            clearTimeout(timer);
            resolve();
          });
        } catch {
          clearTimeout(timer);
          resolve();
        }
      });
    },
  };
}

let logWriteFailing = false;

function onLogTrouble(why: string): void {
  if (logWriteFailing) return;
  logWriteFailing = true;
  try {
    process.stderr.write(
      `shardgate: cannot write the log (${why}); log lines are dropped, serving goes on\n`,
    );
  } catch {
    // stderr may be on the same full disk
  }
  // One notice per minute at most while it keeps failing.
  setTimeout(() => {
    logWriteFailing = false;
  }, 60_000).unref();
}
