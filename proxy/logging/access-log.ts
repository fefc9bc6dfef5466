// One JSON line per finished request, in pino's line format (level, time, pid, type, the
// request fields, msg) and written to the destination pino writes to (through the process
// logger's line batch), but serialized by hand: the line has a fixed shape, so it costs a
// fraction of pino's per-call object walk (about 9.7 us of 12.9 us per request end in a
// profile). The line is encoded field by field straight into the batch's buffer (line-bytes.ts):
// building it as a template string and then encoding that was still about 5 us per request.
// The text path (text()) writes the same bytes, for other sinks and lines too long for the
// buffer. Logs the key's hash, never the key: and because a key may come from the query string
// (query:NAME), the path is logged without its query.
//
// The line's time is the request's end, which the data plane has just read on its monotonic
// clock (the record's endedAt): it is turned into epoch milliseconds with the wall clock read
// once per second (wall-clock.ts), not with a Date.now() per line.

import type { RequestRecord } from "../forward/types.js";
import {
  asciiBytes,
  digitCount,
  FIXED_ROOM,
  MAX_BYTES_PER_UNIT,
  putBytes,
  putMs,
  putNumber,
  putPath,
  putString,
} from "./line-bytes.js";
import type { BufferLineSink } from "./logger.js";
import { WallClock } from "./wall-clock.js";

export interface AccessLog {
  write(r: RequestRecord): void;
}

/**
 * Where finished lines go: ProcessLogger.lines (pino's destination, in batches), which also
 * lends its buffer (BufferLineSink) so lines are encoded into it; any other sink gets text.
 */
export interface LineSink {
  write(line: string): unknown;
}

function pathOnly(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** Rounds to microseconds: sub-µs digits are noise and cost bytes on every line. */
function ms(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * What JSON.stringify leaves raw that a terminal reading the log obeys: DEL and the C1 controls
 * (U+009B is a CSI), the line/paragraph separators and the bidi overrides, as log-quote.ts
 * escapes them. An HTTP/2 `:path` is read as latin1, so a client's 0x9b byte is U+009B here.
 */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeUnit(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * A JSON string literal for `s`. Most values (member ids, routes, request ids, plain paths)
 * need no escaping, and a scan is cheaper than JSON.stringify's general path; anything with a
 * quote, backslash, control char, DEL or anything past ASCII (a lone surrogate must become
 * \uXXXX) goes through JSON.stringify, which is always correct, and RAW_IN_JSON's escapes.
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c)
      return JSON.stringify(s).replace(RAW_IN_JSON, escapeUnit);
  }
  return `"${s}"`;
}

/**
 * Milliseconds rounded to microseconds as JSON number text ("12.345", "0.007"; null for what
 * JSON cannot hold): integer digits and a zero-padded fraction, built from two small integers,
 * not a double-to-string conversion (the costliest part of the line in profiles).
 */
export function msText(x: number): string {
  if (!Number.isFinite(x)) return "null";
  const us = Math.round(Math.abs(x) * 1000);
  if (us > 0x3fffffff) return String(ms(x));
  const frac = us % 1000;
  return `${x < 0 && us !== 0 ? "-" : ""}${intText((us - frac) / 1000)}.${PADDED3[frac]}`;
}

// Digit groups for intText: "0".."999" and "000".."999" (2,000 short strings, made once).
const PLAIN3: string[] = [];
const PADDED3: string[] = [];
for (let i = 0; i < 1000; i++) {
  PLAIN3.push(String(i));
  PADDED3.push(String(i).padStart(3, "0"));
}

/**
 * Decimal text of a non-negative safe integer, built from digit groups instead of V8's
 * number-to-string conversion. V8 keeps every such conversion's result in a heap-wide cache
 * (the number-string cache), so a number that is new on every request (the key hash, the
 * epoch-ms time) left one cached string per line that outlived young-generation collections
 * and was promoted to the old generation, to be found only by the next mark-compact.
 */
export function intText(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) return num(n);
  if (n < 1000) return PLAIN3[n];
  let s = PADDED3[n % 1000];
  let rest = Math.floor(n / 1000);
  while (rest >= 1000) {
    s = PADDED3[rest % 1000] + s;
    rest = Math.floor(rest / 1000);
  }
  return PLAIN3[rest] + s;
}

/** A JSON number, or null for what JSON cannot hold (NaN, Infinity) so the line always parses. */
function num(x: number): string {
  return Number.isFinite(x) ? String(x) : "null";
}

// The line's constant pieces: HEAD and BINDINGS (the pid is fixed for the process) as text,
// since they go into the opening made once per millisecond with the time; the rest as bytes.
const HEAD = '{"level":"info","time":';
const BINDINGS = `,"pid":${process.pid},"type":"access","method":`;
const PATH = asciiBytes(',"path":');
const STATUS = asciiBytes(',"status":');
const ROUTE = asciiBytes(',"route":');
const POOL = asciiBytes(',"pool":');
const MEMBER = asciiBytes(',"member":');
const DURATION = asciiBytes(',"durationMs":');
const QUEUED = asciiBytes(',"queuedMs":');
/** The usual case, a request handled on arrival: its queuedMs and the next key in one copy. */
const NOT_QUEUED_REQUEST_ID = asciiBytes(',"queuedMs":0.000,"requestId":');
const REQUEST_ID = asciiBytes(',"requestId":');
const KEY_HASH = asciiBytes(',"keyHash":');
const ATTEMPTS = asciiBytes(',"attempts":');
const RING_VERSION = asciiBytes(',"ringVersion":');
/** The usual case, one attempt: its count and the next key in one copy. */
const ONE_ATTEMPT_RING_VERSION = asciiBytes(',"attempts":1,"ringVersion":');
const ERROR = asciiBytes(',"error":');
const NULL = asciiBytes("null");
const UPGRADE_END = asciiBytes(',"upgrade":true,"msg":"request"}\n');
const PLAIN_END = asciiBytes(',"upgrade":false,"msg":"request"}\n');
/** The usual ending: no error code, no upgrade. */
const NO_ERROR_PLAIN_END = asciiBytes(',"error":null,"upgrade":false,"msg":"request"}\n');

/** How many members putStatusPlace keeps the fields of (by id, and by slot), and the longest encoding it keeps. */
const MAX_PLACES = 4096;
const MAX_PLACE_BYTES = 256;

interface Place {
  readonly route: string;
  readonly pool: string;
  readonly member: string;
  /**
   * The route, pool and member fields as the line has them, and the next key (durationMs)
   * with them: a copy, not a view of a batch buffer.
   */
  readonly bytes: Uint8Array;
  /** The same preceded by `,"status":200` (the usual status): one copy for both. */
  readonly ok: Uint8Array;
}

/** `,"status":NNN` for the statuses an HTTP answer has (100-599): one copy instead of a key and digits. */
const STATUS_FIELDS: Uint8Array[] = [];
for (let s = 100; s < 600; s++) STATUS_FIELDS.push(asciiBytes(`,"status":${s}`));

const STATUS_OK = STATUS_FIELDS[200 - 100];

/** The usual method: the line's opening is kept with it and the path's key too (openingGet). */
const GET_PATH = asciiBytes('"GET","path":');

/** Whether the sink lends its buffer (ProcessLogger.lines does), so lines are encoded straight into it. */
function lendsBuffer(sink: LineSink): sink is BufferLineSink {
  return typeof (sink as Partial<BufferLineSink>).reserve === "function";
}

class FastAccessLog implements AccessLog {
  /**
   * The last epoch millisecond written, its text (text path) and the line's opening up to the
   * method's value with it (byte path), alone and followed by a GET's method and the path's
   * key: many lines share a millisecond.
   */
  private lastMs = -1;
  private lastMsText = "";
  private opening: Uint8Array = new Uint8Array(0);
  private openingGet: Uint8Array = new Uint8Array(0);
  /** The usual line's end for ring version endVersion (keepEnd); NaN: none kept yet. */
  private end: Uint8Array = new Uint8Array(0);
  private endVersion = Number.NaN;
  /** Epoch ms of the records' ends (read on the data plane's monotonic clock): no clock read per line. */
  private readonly clock = new WallClock();

  private readonly lender: BufferLineSink | null;
  /** By member id: the last route and pool logged with it and the fields' bytes (putStatusPlace). */
  private readonly places = new Map<string, Place>();
  /** The same places by the record's member slot: an array index first, the id's Map after. */
  private readonly bySlot: Array<Place | undefined> = [];

  constructor(private readonly sink: LineSink) {
    this.lender = lendsBuffer(sink) ? sink : null;
  }

  /** Makes the record's end millisecond the current one. */
  private tick(r: RequestRecord): void {
    const now = this.clock.at(r.endedAt);
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastMsText = "";
      // Rewritten in place each millisecond (new arrays only when the time gains a digit).
      const length = HEAD.length + digitCount(now) + BINDINGS.length;
      if (this.opening.length !== length) {
        this.opening = asciiBytes(`${HEAD}${intText(now)}${BINDINGS}`);
        this.openingGet = new Uint8Array(length + GET_PATH.length);
        this.openingGet.set(this.opening);
        this.openingGet.set(GET_PATH, length);
      } else {
        putNumber(this.opening, HEAD.length, now);
        putNumber(this.openingGet, HEAD.length, now);
      }
    }
  }

  private timeText(r: RequestRecord): string {
    this.tick(r);
    if (this.lastMsText === "") this.lastMsText = intText(this.lastMs);
    return this.lastMsText;
  }

  write(r: RequestRecord): void {
    const lender = this.lender;
    if (lender === null) {
      this.sink.write(this.text(r));
      return;
    }
    // The room counts the whole target; the line has its path only (putPath stops at "?").
    const units =
      r.method.length +
      r.path.length +
      r.route.length +
      r.pool.length +
      r.member.length +
      r.requestId.length +
      r.errorCode.length;
    const at = lender.reserve(units * MAX_BYTES_PER_UNIT + FIXED_ROOM);
    // A line longer than the lender's buffer (a path of thousands of characters) goes as text.
    if (at < 0) lender.write(this.text(r));
    else lender.commit(this.encode(lender.buf, at, r));
  }

  /** The line encoded at `at` (room reserved); returns where it ends. Same bytes as text(r). */
  private encode(b: Buffer, at: number, r: RequestRecord): number {
    this.tick(r);
    if (r.method === "GET") at = putBytes(b, at, this.openingGet);
    else {
      at = putBytes(b, at, this.opening);
      at = putString(b, at, r.method, r.method.length, jsonString);
      at = putBytes(b, at, PATH);
    }
    at = putPath(b, at, r.path, jsonString);
    at = this.putStatusPlace(b, at, r);
    at = putMs(b, at, r.durationMs, msText);
    if (r.queuedMs === 0) at = putBytes(b, at, NOT_QUEUED_REQUEST_ID);
    else {
      at = putBytes(b, at, QUEUED);
      at = putMs(b, at, r.queuedMs, msText);
      at = putBytes(b, at, REQUEST_ID);
    }
    at = putString(b, at, r.requestId, r.requestId.length, jsonString);
    at = putBytes(b, at, KEY_HASH);
    at = r.keyHash < 0 ? putBytes(b, at, NULL) : putNumber(b, at, r.keyHash);
    if (r.attempts === 1 && r.errorCode === "" && !r.upgrade && r.ringVersion === this.endVersion)
      return putBytes(b, at, this.end);
    if (r.attempts === 1) at = putBytes(b, at, ONE_ATTEMPT_RING_VERSION);
    else {
      at = putBytes(b, at, ATTEMPTS);
      at = putNumber(b, at, r.attempts);
      at = putBytes(b, at, RING_VERSION);
    }
    const versionAt = at;
    at = putNumber(b, at, r.ringVersion);
    if (r.errorCode === "" && !r.upgrade) {
      const end = putBytes(b, at, NO_ERROR_PLAIN_END);
      if (r.attempts === 1) this.keepEnd(b, versionAt - ONE_ATTEMPT_RING_VERSION.length, end, r.ringVersion);
      return end;
    }
    at = putBytes(b, at, ERROR);
    at =
      r.errorCode === ""
        ? putBytes(b, at, NULL)
        : putString(b, at, r.errorCode, r.errorCode.length, jsonString);
    return putBytes(b, at, r.upgrade ? UPGRADE_END : PLAIN_END);
  }

  /**
   * Keeps the usual line's end (`,"attempts":1,"ringVersion":N,"error":null,...}` and the
   * newline) for ring version `version`, as just written at b[from, to): the next lines at that
   * version copy it whole instead of a key, the version's digits and the rest.
   */
  private keepEnd(b: Buffer, from: number, to: number, version: number): void {
    if (this.end.length !== to - from) this.end = new Uint8Array(to - from);
    this.end.set(b.subarray(from, to));
    this.endVersion = version;
  }

  /**
   * `,"status":..,"route":..,"pool":..,"member":..,"durationMs":` for the record (a 200 and the
   * rest in one copy). A process has few members
   * and routes and most lines repeat one of a handful of these triples: their bytes are kept
   * per member and copied in whole, instead of four keys and three checked strings encoded per
   * line. Found by the record's member slot (an array index) when the slot holds this member,
   * route and pool; by the member's id otherwise (a slot shared by members of two pools).
   */
  private putStatusPlace(b: Buffer, at: number, r: RequestRecord): number {
    const slot = r.memberSlot;
    const bySlot = this.bySlot;
    let p = slot >= 0 && slot < bySlot.length ? bySlot[slot] : undefined;
    if (p === undefined || p.member !== r.member || p.route !== r.route || p.pool !== r.pool) {
      p = this.places.get(r.member);
      if (p !== undefined && p.route === r.route && p.pool === r.pool) this.remember(slot, p);
      else p = undefined;
    }
    if (p !== undefined && r.status === 200) return putBytes(b, at, p.ok);
    const status = r.status;
    if (status >= 100 && status < 600 && Number.isInteger(status))
      at = putBytes(b, at, STATUS_FIELDS[status - 100]);
    else {
      at = putBytes(b, at, STATUS);
      at = putNumber(b, at, status);
    }
    if (p !== undefined) return putBytes(b, at, p.bytes);
    return this.newPlace(b, at, r, slot);
  }

  /** Encodes the record's place fields at `at` and keeps them (bounded) for the next lines. */
  private newPlace(b: Buffer, at: number, r: RequestRecord, slot: number): number {
    const start = at;
    at = putBytes(b, at, ROUTE);
    at = putString(b, at, r.route, r.route.length, jsonString);
    at = putBytes(b, at, POOL);
    at = putString(b, at, r.pool, r.pool.length, jsonString);
    at = putBytes(b, at, MEMBER);
    at = putString(b, at, r.member, r.member.length, jsonString);
    at = putBytes(b, at, DURATION);
    if (at - start <= MAX_PLACE_BYTES) {
      // Bounded: members come and go over a process's life (a fresh start past the bound).
      if (!this.places.has(r.member) && this.places.size >= MAX_PLACES) this.places.clear();
      const bytes = new Uint8Array(at - start);
      bytes.set(b.subarray(start, at));
      const ok = new Uint8Array(STATUS_OK.length + bytes.length);
      ok.set(STATUS_OK);
      ok.set(bytes, STATUS_OK.length);
      const place: Place = { route: r.route, pool: r.pool, member: r.member, bytes, ok };
      this.places.set(r.member, place);
      this.remember(slot, place);
    }
    return at;
  }

  private remember(slot: number, p: Place): void {
    if (slot < 0 || slot >= MAX_PLACES) return;
    const bySlot = this.bySlot;
    while (bySlot.length <= slot) bySlot.push(undefined);
    bySlot[slot] = p;
  }

  /** The line as text: for a sink without a buffer, and a line too long for one. */
  text(r: RequestRecord): string {
    // Fixed shape and key order: every line has every field, so log pipelines see one schema.
    return `${HEAD}${this.timeText(r)}${BINDINGS}${jsonString(r.method)},"path":${jsonString(pathOnly(r.path))},"status":${num(r.status)},"route":${jsonString(r.route)},"pool":${jsonString(r.pool)},"member":${jsonString(r.member)},"durationMs":${msText(r.durationMs)},"queuedMs":${msText(r.queuedMs)},"requestId":${jsonString(r.requestId)},"keyHash":${r.keyHash < 0 ? "null" : intText(r.keyHash)},"attempts":${num(r.attempts)},"ringVersion":${num(r.ringVersion)},"error":${r.errorCode === "" ? "null" : jsonString(r.errorCode)},"upgrade":${r.upgrade ? "true" : "false"},"msg":"request"}\n`;
  }
}

const DISABLED: AccessLog = { write() {} };

/**
 * The access log writing to `sink` (ProcessLogger.lines), or a no-op when
 * disabled in config. Lines are written whatever log.level says: `log.accessLog: true` means
 * access lines even when the level is warn.
 */
export function createAccessLog(sink: LineSink, enabled: boolean): AccessLog {
  return enabled ? new FastAccessLog(sink) : DISABLED;
}
