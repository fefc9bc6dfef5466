// Decodes a /v1/health/service answer (a JSON array, ~500 bytes per instance) entry by entry as
// its chunks arrive, reusing the decoded object of every entry whose bytes equal the previous
// answer's. A blocking query re-sends the whole service when one instance changes; at 3,000
// instances concatenating and parsing the 1.5 MB body dominated a change's cost.
//
// An entry is first compared byte for byte (native memcmp) with the previous answer's next
// entry; only when that fails are its bytes scanned for structure and, unless they equal the
// entry after that (one instance deregistered), parsed. Byte-equal text decodes to an equal
// value, so the result equals JSON.parse of the whole body; every previous entry is reused at
// most once, in order. Anything the splitter does not accept (not an array, a truncated or
// malformed body) is handed to JSON.parse of the whole body, which then decides: same value,
// same error.

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

// Where the reader is in the body.
/** Before the opening bracket. */
const START = 0;
/** After `[`: an element or `]`. */
const FIRST = 1;
/** After `,`: an element. */
const NEXT = 2;
/** Comparing an element's bytes with the previous answer's candidate entry. */
const MATCH = 3;
/** The candidate's bytes all matched: a `,` or `]` (after spaces) confirms it. */
const MATCHED = 4;
/** Scanning a changed element for its end. */
const SCAN = 5;
/** After the closing `]`: only spaces. */
const END = 6;
/** Not an array the splitter accepts: JSON.parse of the whole body decides at end(). */
const WHOLE = 7;

/** One watcher's memory of the last answer: entry bytes and their decoded values, in order. */
export class ConsulAnswerCache {
  bytes: readonly Buffer[] = [];
  values: readonly unknown[] = [];

  /** Starts reading one answer: push() its chunks as they arrive, then end(). */
  reader(): AnswerReader {
    return new AnswerReader(this);
  }

  /** The whole body decoded as JSON.parse would; unchanged entries are the previous answer's objects. */
  decode(body: Buffer): unknown {
    const r = this.reader();
    r.push(body);
    return r.end();
  }
}

/** Reads one answer. Nothing reaches the cache unless end() succeeds. */
export class AnswerReader {
  private readonly cache: ConsulAnswerCache;
  /** Every chunk, by reference, for the whole-body fallback. */
  private readonly chunks: Buffer[] = [];
  private readonly bytes: Buffer[] = [];
  private readonly values: unknown[] = [];
  private phase = START;
  /** Index of the last previous entry reused; candidates come after it. */
  private lastOld = -1;
  /** The current element's bytes so far (views into chunks, not copies). */
  private pieces: Buffer[] = [];
  private candidate: Buffer | undefined;
  private matched = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** True once end() had to parse the whole body (not an array, malformed or truncated). */
  wholeParsed = false;

  constructor(cache: ConsulAnswerCache) {
    this.cache = cache;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.phase) {
        case START: {
          const b = chunk[i];
          if (isSpace(b)) i++;
          else if (b === OPEN_BRACKET) {
            this.phase = FIRST;
            i++;
          } else {
            this.phase = WHOLE;
            return;
          }
          break;
        }
        case FIRST:
        case NEXT: {
          const b = chunk[i];
          if (isSpace(b)) i++;
          else if (b === CLOSE_BRACKET && this.phase === FIRST) {
            this.phase = END;
            i++;
          } else if (b === CLOSE_BRACKET || b === COMMA) {
            this.phase = WHOLE; // a trailing or leading comma
            return;
          } else this.beginElement();
          break;
        }
        case MATCH:
          i = this.match(chunk, i);
          break;
        case MATCHED: {
          const b = chunk[i];
          if (isSpace(b)) {
            this.pieces.push(chunk.subarray(i, i + 1));
            i++;
          } else if (b === COMMA || b === CLOSE_BRACKET) {
            this.lastOld++;
            this.bytes.push(this.candidate as Buffer);
            this.values.push(this.cache.values[this.lastOld]);
            this.pieces = [];
            this.phase = b === COMMA ? NEXT : END;
            i++;
          } else this.rescan(); // the candidate was a prefix (`12` of `123`)
          break;
        }
        case SCAN:
          i = this.scan(chunk, i);
          break;
        case END:
          if (!isSpace(chunk[i])) {
            this.phase = WHOLE;
            return;
          }
          i++;
          break;
        default:
          return;
      }
    }
  }

  /** The answer's value; unchanged entries are the previous answer's objects. Throws what JSON.parse throws. */
  end(): unknown {
    if (this.phase !== END) {
      this.wholeParsed = true;
      this.cache.bytes = [];
      this.cache.values = [];
      return JSON.parse(Buffer.concat(this.chunks).toString("utf8"));
    }
    this.cache.bytes = this.bytes;
    this.cache.values = this.values;
    return this.values;
  }

  private beginElement(): void {
    this.pieces = [];
    this.candidate = this.cache.bytes[this.lastOld + 1];
    this.matched = 0;
    if (this.candidate !== undefined) this.phase = MATCH;
    else this.startScan();
  }

  private startScan(): void {
    this.phase = SCAN;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  private match(chunk: Buffer, i: number): number {
    const c = this.candidate as Buffer;
    const len = Math.min(c.length - this.matched, chunk.length - i);
    if (chunk.compare(c, this.matched, this.matched + len, i, i + len) !== 0) {
      this.rescan();
      return i;
    }
    this.pieces.push(chunk.subarray(i, i + len));
    this.matched += len;
    if (this.matched === c.length) this.phase = MATCHED;
    return i + len;
  }

  /** The candidate did not match: scan what was compared so far, then go on scanning. */
  private rescan(): void {
    const seen = this.pieces;
    this.pieces = [];
    this.startScan();
    for (const p of seen) {
      // A prefix of a valid value cannot hold its end; if it seems to, let JSON.parse judge.
      if (this.scan(p, 0) !== p.length || this.phase !== SCAN) {
        this.phase = WHOLE;
        return;
      }
    }
  }

  /** Scans a changed element from `i`; returns where to go on (after its `,` or `]`, or the chunk's end). */
  private scan(chunk: Buffer, i: number): number {
    const start = i;
    const n = chunk.length;
    while (i < n) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          i++;
          continue;
        }
        const q = chunk.indexOf(QUOTE, i);
        // Backslashes right before the quote (or the chunk's end): an odd run escapes it.
        const stop = q < 0 ? n : q;
        let k = stop;
        while (k > i && chunk[k - 1] === BACKSLASH) k--;
        const odd = ((stop - k) & 1) === 1;
        if (q < 0) {
          this.escaped = odd;
          i = n;
          break;
        }
        if (!odd) this.inString = false;
        i = q + 1;
        continue;
      }
      const b = chunk[i];
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET || b === COMMA) {
        if (this.depth > 0) {
          if (b !== COMMA) this.depth--;
        } else if (b === CLOSE_BRACE) {
          this.phase = WHOLE;
          return n;
        } else {
          if (i > start) this.pieces.push(chunk.subarray(start, i));
          this.finishElement();
          if (this.phase === SCAN) this.phase = b === COMMA ? NEXT : END;
          return i + 1;
        }
      }
      i++;
    }
    if (n > start) this.pieces.push(chunk.subarray(start, n));
    return n;
  }

  /** A changed element is complete in `pieces`: reuse the entry after the candidate, or parse it. */
  private finishElement(): void {
    const pieces = this.pieces;
    this.pieces = [];
    // Trailing spaces before the `,` or `]` are not part of the element.
    while (pieces.length > 0) {
      const last = pieces[pieces.length - 1];
      let e = last.length;
      while (e > 0 && isSpace(last[e - 1])) e--;
      if (e > 0) {
        pieces[pieces.length - 1] = last.subarray(0, e);
        break;
      }
      pieces.pop();
    }
    // Copy what is kept: a view would pin its whole chunk until the next answer.
    const own = Buffer.concat(pieces);
    const skip = this.cache.bytes[this.lastOld + 2];
    if (skip?.equals(own)) {
      // The previous entry at the candidate's place is gone (deregistered): reuse the next one.
      this.lastOld += 2;
      this.bytes.push(skip);
      this.values.push(this.cache.values[this.lastOld]);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(own.toString("utf8"));
    } catch {
      this.phase = WHOLE; // JSON.parse of the whole body reports it
      return;
    }
    this.bytes.push(own);
    this.values.push(value);
  }
}
