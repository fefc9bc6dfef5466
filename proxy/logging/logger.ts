// The process logger: pino writing JSON lines to stdout (or a file) through an asynchronous,
// buffering sonic-boom destination: a log call on the request path is a buffer append, and
// lines go out in batches of >= 128 KiB or every 100 ms, whichever comes first. Writing every
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
// - at most MAX_BUFFERED_BYTES wait for a destination that does not take them; past that, new
//   lines are dropped (memory stays bounded), and stderr says so.
//
// Hand-built lines (the access log) do not go to sonic-boom one by one. sonic-boom keeps its
// pending data as one JS string until 32 KiB: every write appends to it (a cons string) and
// measures its byte length, which flattens it, so the pending text was copied again on every
// handover and, living tens of milliseconds, survived young-generation collections and was
// promoted (the access log was the largest source of promoted bytes per request in
// `npm run bench -- engine-profile`). Lines are encoded instead into a buffer outside the JS
// heap (EncodedLines), field by field with no line string at all (access-log.ts and
// line-bytes.ts, through reserve/commit), and sonic-boom (in its buffer mode) or the pipe
// stream gets that buffer per ~160 KiB (or per 100 ms), which sonic-boom writes at once. Handing
// a string over instead cost a UTF-8 decode of the batch, sonic-boom's byte-length scans and
// fs.write's UTF-8 encode of it again (utf8Slice and writeString in engine-profile).
// A pino line (rare) first hands over the access lines before it, so the order holds.

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

/** A line sink that lends its buffer: a line is encoded into it in place (the access log). */
export interface BufferLineSink {
  /** A whole line as text (a line too long for the buffer, a writer without a byte encoder). */
  write(line: string): void;
  /** The buffer lines are encoded into. */
  readonly buf: Buffer;
  /** The offset where up to `bytes` bytes may be written now, or -1 when that is more than the buffer holds. */
  reserve(bytes: number): number;
  /** The line written at the last reserve() ends at `end`. */
  commit(end: number): void;
}

export interface ProcessLogger {
  readonly logger: Logger;
  /** Where hand-built JSON lines go (the access log): pino's destination, in ~160 KiB batches. */
  readonly lines: BufferLineSink;
  /** Starts writing out everything buffered, without blocking (a failing destination cannot hang it). */
  flush(): void;
  /** Resolves once everything buffered is written, the destination failed, or `ms` passed. */
  flushWithin(ms: number): Promise<void>;
}

/** Log bytes held for a destination that does not take them; past this, lines are dropped. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/**
 * Room for access lines before they are handed over. A batch is handed over once the next line
 * might not fit, so at more than 160 KiB minus three bytes per character of a line: past
 * sonic-boom's minLength (128 KiB) for lines up to about 10,000 characters, so sonic-boom writes
 * each batch at once instead of appending the next one to it. Each batch is one thread-pool
 * write (a wake-up there and a completion on the loop, ~12 us of CPU whatever its size):
 * 160 KiB rather than 40 KiB spreads that over ~500 access lines instead of ~120.
 */
const BATCH_BYTES = 160 * 1024;
/** The longest a line waits in the batch (sonic-boom's own periodic flush adds at most as much). */
const BATCH_MS = 100;

/**
 * Access lines encoded as UTF-8 into one buffer and handed to the destination as one string
 * per batch. A synchronous destination gets every line at once (tests read them right away).
 */
class EncodedLines implements BufferLineSink {
  buf: Buffer;
  private used = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armed = false;
  private readonly onTimer = (): void => {
    this.armed = false;
    this.drain();
  };

  constructor(
    private readonly dest: { write(b: Buffer): unknown },
    private readonly batch: boolean,
  ) {
    // A synchronous destination uses the buffer too (one line at a time, handed over at once).
    this.buf = Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  reserve(bytes: number): number {
    if (bytes > BATCH_BYTES) return -1;
    if (this.used + bytes > BATCH_BYTES) this.drain();
    return this.used;
  }

  commit(end: number): void {
    this.used = end;
    if (!this.batch) {
      this.drain();
      return;
    }
    this.arm();
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    // One timer object for the process, re-armed: no allocation per batch.
    if (this.timer === null) {
      this.timer = setTimeout(this.onTimer, BATCH_MS);
      this.timer.unref();
    } else this.timer.refresh();
  }

  write(line: string): void {
    if (!this.batch) {
      this.dest.write(Buffer.from(line, "utf8"));
      return;
    }
    // A UTF-16 unit takes at most 3 bytes in UTF-8: hand over first when the line might not fit.
    if (this.used + line.length * 3 > BATCH_BYTES) {
      this.drain();
      if (line.length * 3 > BATCH_BYTES) {
        this.dest.write(Buffer.from(line, "utf8"));
        return;
      }
    }
    this.used += this.buf.write(line, this.used, "utf8");
    this.arm();
  }

  /** Hands everything pending to the destination now. */
  drain(): void {
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    if (!this.batch) {
      // A synchronous destination has written it before write() returns; a copy all the same
      // (a partial write would keep it), one line long.
      this.dest.write(Buffer.from(this.buf.subarray(0, used)));
      return;
    }
    // The batch goes out as bytes (never decoded into a string and encoded again) and stays
    // the destination's until written: the next lines go into a fresh buffer.
    const out = this.buf.subarray(0, used);
    this.buf = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.dest.write(out);
  }
}

/** pino's own lines (rare) first hand over the access lines written before them: order kept. */
function orderedAfter(lines: EncodedLines, dest: { write(b: Buffer): unknown }): { write(s: string): void } {
  return {
    write(s: string): void {
      lines.drain();
      dest.write(Buffer.from(s, "utf8"));
    },
  };
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
 * stdout on a pipe or socket: a non-blocking libuv stream (stream-destination.ts), fed the access
 * lines' batches like sonic-boom.
 */
function pipeLogger(level: LogLevel, fd: number): ProcessLogger {
  const dest = openStreamDestination(fd, MAX_BUFFERED_BYTES, onLogTrouble);
  const lines = new EncodedLines(dest, true);
  const logger = pino(pinoOptions(level), orderedAfter(lines, dest));
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
    maxLength: MAX_BUFFERED_BYTES,
    // Bytes in, bytes out: the access lines' batches are encoded once, in EncodedLines.
    contentMode: "buffer",
    // Batching only applies to asynchronous writes (sonic-boom refuses minLength with sync).
    // 128 KiB batches: each asynchronous write is a thread-pool round trip (futex wake-ups,
    // a completion on the loop); at 4 KiB one went out every ~12 access lines, a visible
    // share of the proxy's CPU per request. The 100 ms flush still bounds a line's delay.
    ...(sync ? {} : { minLength: 128 * 1024, maxWrite: 256 * 1024, periodicFlush: 100 }),
  });
  // In buffer mode sonic-boom takes Buffers; its typings only know strings.
  const bytesDest = dest as unknown as { write(b: Buffer): unknown };
  const lines = new EncodedLines(bytesDest, !sync);
  const logger = pino(pinoOptions(opts.level), orderedAfter(lines, bytesDest));
  // A log write that fails (stdout redirected to a full disk: ENOSPC; a file over its size
  // limit: EFBIG) was an unhandled 'error' event: the process crashed and stopped serving.
  // Lines that cannot be written are dropped; serving goes on; stderr says so once per streak.
  dest.on("error", (err: NodeJS.ErrnoException) => onLogTrouble(err.code ?? err.message));
  dest.on("drop", () => onLogTrouble("the destination does not keep up"));
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
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        // With a write already in flight, sonic-boom's flush only waits for that write, and
        // what is buffered behind it (under minLength) stays: a second flush writes it.
        try {
          dest.flush((err) => {
            if (err) done();
            else {
              try {
                dest.flush(done);
              } catch {
                done();
              }
            }
          });
        } catch {
          done();
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
