// Decodes a /v1/health/service answer (a JSON array, ~900 bytes per instance) entry by entry as
// its chunks arrive, reusing the decoded object of every entry whose bytes equal the previous
// answer's. A blocking query re-sends the whole service when one instance changes; at 3,000
// instances concatenating and parsing the 2.7 MB body dominated a change's cost.
//
// While the new answer's bytes run equal to the previous answer's (consul-answer-body.ts), a
// whole chunk is compared in one native memcmp and every previous entry it covers, with its
// `,`, is taken as it was. At the first differing byte (found by bisecting the chunk's
// compare), the entry it falls in is scanned for structure and, unless its bytes equal the
// entry after the previous one (one instance deregistered), parsed; comparing resumes at the
// next entry, shifted by however much that entry grew or shrank. Byte-equal text decodes to
// an equal value, so the result equals JSON.parse of the whole body; every previous entry is
// reused at most once, in order. Anything the splitter does not accept (not an array, a
// truncated or malformed body) is handed to JSON.parse of the whole body, which then decides:
// same value, same error.

import { AnswerBody } from "./consul-answer-body.js";

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
/** The bytes run equal to the previous answer's from offset `p` (inside its next entry). */
const ALIGNED = 3;
/** The previous entry's bytes all matched, then the run broke: a `,` or `]` (after spaces) confirms it. */
const MATCHED = 4;
/** Scanning a changed element for its end. */
const SCAN = 5;
/** After the closing `]`: only spaces. */
const END = 6;
/** Not an array the splitter accepts: JSON.parse of the whole body decides at end(). */
const WHOLE = 7;

/** One watcher's memory of the last answer: its bytes, entry offsets and decoded values. */
export class ConsulAnswerCache {
  last: AnswerBody = AnswerBody.EMPTY;

  /** The last answer's decoded entries, in order. */
  get values(): readonly unknown[] {
    return this.last.values;
  }

  /** Starts reading one answer: push() its chunks as they arrive (never changing them afterwards), then end(). */
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
  private readonly prev: AnswerBody;
  /** Every non-empty chunk, by reference: the next answer's AnswerBody, or the whole-body fallback. */
  private readonly chunks: Buffer[] = [];
  /** Body offset of the chunk being read. */
  private base = 0;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly seps: number[] = [];
  private readonly values: unknown[] = [];
  private phase = START;
  /** Index of the last previous entry reused; candidates come after it. */
  private lastOld = -1;
  /** ALIGNED / MATCHED: the previous answer's offset matched up to, and new offset minus old along the run. */
  private p = 0;
  private delta = 0;
  /** SCAN: body offset of the element's first byte. */
  private elemStart = 0;
  /** SCAN: the element's bytes so far (views, not copies); MATCHED: the spaces after the entry. */
  private pieces: Buffer[] = [];
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** True once end() had to parse the whole body (not an array, malformed or truncated). */
  wholeParsed = false;

  constructor(cache: ConsulAnswerCache) {
    this.cache = cache;
    this.prev = cache.last;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    this.chunks.push(chunk);
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
            i = n;
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
            i = n;
          } else this.beginElement(this.base + i);
          break;
        }
        case ALIGNED:
          i = this.aligned(chunk, i);
          break;
        case MATCHED: {
          const b = chunk[i];
          if (isSpace(b)) {
            this.pieces.push(chunk.subarray(i, i + 1));
            i++;
          } else if (b === COMMA || b === CLOSE_BRACKET) {
            const j = ++this.lastOld;
            const prev = this.prev;
            this.keep(prev.starts[j] + this.delta, prev.ends[j] + this.delta, this.base + i, prev.values[j]);
            this.pieces = [];
            this.phase = b === COMMA ? NEXT : END;
            i++;
          } else this.rescan(); // the previous entry was a prefix (`12` of `123`)
          break;
        }
        case SCAN:
          i = this.scan(chunk, i);
          break;
        case END:
          if (!isSpace(chunk[i])) {
            this.phase = WHOLE;
            i = n;
          } else i++;
          break;
        default:
          i = n;
      }
    }
    this.base += n;
  }

  /** The answer's value; unchanged entries are the previous answer's objects. Throws what JSON.parse throws. */
  end(): unknown {
    if (this.phase !== END) {
      this.wholeParsed = true;
      this.cache.last = AnswerBody.EMPTY;
      return JSON.parse(Buffer.concat(this.chunks).toString("utf8"));
    }
    this.cache.last = new AnswerBody(this.chunks, this.starts, this.ends, this.seps, this.values);
    return this.values;
  }

  private keep(start: number, end: number, sep: number, value: unknown): void {
    this.starts.push(start);
    this.ends.push(end);
    this.seps.push(sep);
    this.values.push(value);
  }

  /** An element begins at body offset `at`: compare it with the next previous entry, or scan it. */
  private beginElement(at: number): void {
    const j = this.lastOld + 1;
    if (j < this.prev.count) {
      this.phase = ALIGNED;
      this.p = this.prev.starts[j];
      this.delta = at - this.p;
    } else {
      this.elemStart = at;
      this.pieces = [];
      this.startScan();
    }
  }

  private startScan(): void {
    this.phase = SCAN;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  /** ALIGNED at `i`: takes the run of bytes equal to the previous answer's; returns where to go on. */
  private aligned(chunk: Buffer, i: number): number {
    const len = Math.min(chunk.length - i, this.prev.size - this.p);
    const eq = len === 0 ? 0 : this.prev.commonPrefix(chunk, i, len, this.p);
    this.p += eq;
    this.settle();
    // A differing byte inside an entry: that entry changed. Elsewhere (a separator or the
    // spaces around one) the phase's own byte rule decides.
    if (eq < len && this.phase === ALIGNED) this.rescan();
    return i + eq;
  }

  /** Takes every previous entry the run has covered with its separator; sets the phase for offset p. */
  private settle(): void {
    const prev = this.prev;
    for (;;) {
      const j = this.lastOld + 1;
      if (this.p < prev.ends[j]) {
        this.phase = ALIGNED;
        return;
      }
      if (this.p <= prev.seps[j]) {
        this.phase = MATCHED;
        return;
      }
      this.lastOld = j;
      this.keep(
        prev.starts[j] + this.delta,
        prev.ends[j] + this.delta,
        prev.seps[j] + this.delta,
        prev.values[j],
      );
      if (j === prev.count - 1) {
        this.phase = END; // its separator was the `]`
        return;
      }
      if (this.p < prev.starts[j + 1]) {
        this.phase = NEXT;
        return;
      }
    }
  }

  /** The run broke inside the next previous entry (or after it, before its `,`): scan the element from its start. */
  private rescan(): void {
    const j = this.lastOld + 1;
    const start = this.prev.starts[j];
    const seen = this.prev.slice(start, this.p);
    for (const s of this.pieces) seen.push(s);
    this.pieces = [];
    this.elemStart = start + this.delta;
    this.startScan();
    for (const s of seen) {
      // A prefix of a valid value cannot hold its end; if it seems to, let JSON.parse judge.
      if (this.scan(s, 0) !== s.length || this.phase !== SCAN) {
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
          this.finishElement(this.base + i);
          if (this.phase === SCAN) this.phase = b === COMMA ? NEXT : END;
          return i + 1;
        }
      }
      i++;
    }
    if (n > start) this.pieces.push(chunk.subarray(start, n));
    return n;
  }

  /** A changed element is complete in `pieces`, its `,` or `]` at body offset `sep`: reuse the entry after the candidate, or parse it. */
  private finishElement(sep: number): void {
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
    const own = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
    const start = this.elemStart;
    const skip = this.lastOld + 2;
    if (skip < this.prev.count && this.prev.entryEquals(own, skip)) {
      // The previous entry at the candidate's place is gone (deregistered): reuse the next one.
      this.lastOld = skip;
      this.keep(start, start + own.length, sep, this.prev.values[skip]);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(own.toString("utf8"));
    } catch {
      this.phase = WHOLE; // JSON.parse of the whole body reports it
      return;
    }
    this.keep(start, start + own.length, sep, value);
  }
}
