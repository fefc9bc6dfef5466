// The bound on one Redis reply (`redis.maxReplyBytes`). ioredis's decoder keeps every byte of a
// reply until the reply is complete, with no limit: a hostile or broken Redis announcing
// `$1000000000` and then trickling bytes, or an endless array, grew the proxy's memory for as
// long as it kept sending. This scanner reads the same bytes beside the decoder, only as far as
// RESP framing goes (type lines, bulk lengths skipped over, aggregate counts on a stack), and
// counts the bytes of the reply in progress; a reply announced or grown past the bound drops the
// connection, and ioredis then fails the command and reconnects as when Redis goes away.
// No RESP library on npm streams lengths without also keeping the values, hence this one.

import type { Duplex } from "node:stream";

/** What every top-level reply may take when nothing larger is configured or needed. */
export const DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * The bound as read at each check: a number fixed at start (`redis.maxReplyBytes` set), or one
 * that follows the routing in use (unset: what the largest route cache needs, create-edge.ts), so
 * a reload or a committed routing that raises a cache.maxBytes also raises it on open connections.
 */
export interface ReplyLimit {
  readonly max: number;
}

/** The error a connection is destroyed with; its first word is what StoreStatus groups by. */
export class ReplyTooLargeError extends Error {
  readonly code = "redis_reply_too_large";
}

const CR = 13;
const LF = 10;
/** The shortest RESP value ("_\r\n"): a count of N elements cannot take fewer than 3N bytes. */
const MIN_ELEMENT_BYTES = 3;

/** RESP framing, scanned incrementally across chunks; values are skipped, never kept. */
export class ReplyScanner {
  /** Bytes of the top-level reply in progress. */
  private bytes = 0;
  /** Elements still expected by each open aggregate (innermost last). */
  private readonly open: number[] = [];
  /** Bytes of a bulk value (and its CRLF) still to skip; 0 while reading a type line. */
  private skip = 0;
  private lineType = 0;
  private lineNumber = 0;
  private lineNegative = false;
  /** Set when a line completed the top-level reply (read and cleared by write). */
  private doneAtTop = false;

  private readonly limit: ReplyLimit;

  constructor(max: number | ReplyLimit) {
    this.limit = typeof max === "number" ? { max } : max;
  }

  private get max(): number {
    return this.limit.max;
  }

  /**
   * Scans `chunk`; returns a reason when the reply in progress is, or announces it will be,
   * larger than the bound (the caller drops the connection), null otherwise.
   */
  write(chunk: Uint8Array): string | null {
    const n = chunk.length;
    let i = 0;
    let start = 0; // where the current reply's bytes in this chunk begin
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        if (this.skip === 0 && this.elementDone()) {
          if (this.bytes + i - start > this.max) return this.over();
          this.bytes = 0;
          start = i;
        }
        continue;
      }
      const b = chunk[i++] as number;
      if (this.lineType === 0) {
        this.lineType = b;
        this.lineNumber = 0;
        this.lineNegative = false;
      } else if (b === LF) {
        const type = this.lineType;
        this.lineType = 0;
        const over = this.lineEnd(type, this.lineNegative ? -this.lineNumber : this.lineNumber, i - start);
        if (over !== null) return over;
        if (this.doneAtTop) {
          this.doneAtTop = false;
          if (this.bytes + i - start > this.max) return this.over();
          this.bytes = 0;
          start = i;
        }
      } else if (b >= 48 && b <= 57) {
        // Digits only matter in length lines; a simple string's digits are harmless here.
        if (this.lineNumber < Number.MAX_SAFE_INTEGER / 10) this.lineNumber = this.lineNumber * 10 + (b - 48);
      } else if (b === 45 && this.lineNumber === 0) {
        this.lineNegative = true;
      } else if (b !== CR) {
        this.lineNumber = 0;
      }
    }
    this.bytes += n - start;
    return this.bytes > this.max ? this.over() : null;
  }

  private over(): string {
    return `a reply of more than ${this.max} bytes (redis.maxReplyBytes)`;
  }

  private lineEnd(type: number, count: number, sofar: number): string | null {
    switch (type) {
      case 36: // $ bulk string
      case 33: // ! bulk error
      case 61: // = verbatim string
        if (count < 0) break;
        if (this.bytes + sofar + count + 2 > this.max)
          return `a ${count}-byte value (over redis.maxReplyBytes, ${this.max})`;
        this.skip = count + 2;
        return null;
      case 42: // * array
      case 126: // ~ set
      case 62: // > push
      case 37: // % map
      case 124: {
        // | attribute: counted like a map, as one more element of its parent
        const elements = type === 37 || type === 124 ? count * 2 : count;
        if (elements <= 0) break;
        if (this.bytes + sofar + elements * MIN_ELEMENT_BYTES > this.max)
          return `an aggregate of ${count} elements (over redis.maxReplyBytes, ${this.max})`;
        this.open.push(elements);
        return null;
      }
      default:
        break;
    }
    if (this.elementDone()) this.doneAtTop = true;
    return null;
  }

  /** One value ended: closes the aggregates it completes; true when the top-level reply ended. */
  private elementDone(): boolean {
    const open = this.open;
    while (open.length > 0) {
      const left = (open[open.length - 1] as number) - 1;
      if (left > 0) {
        open[open.length - 1] = left;
        return false;
      }
      open.pop();
    }
    return true;
  }
}

/**
 * Watches `stream` (a connection to Redis) with a scanner of `max` bytes; past it the stream is
 * destroyed with a ReplyTooLargeError and `onExceeded` is called once for the connection.
 * Added before ioredis's own listener (which it prepends), so it does not start the flow itself.
 */
export function boundReplies(stream: Duplex, max: number | ReplyLimit, onExceeded: () => void): void {
  const scanner = new ReplyScanner(max);
  const watch = (chunk: Buffer | string): void => {
    const over = scanner.write(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    if (over === null) return;
    stream.removeListener("data", watch);
    onExceeded();
    stream.destroy(new ReplyTooLargeError(`redis reply too large: ${over}; connection dropped`));
  };
  stream.prependListener("data", watch);
}
