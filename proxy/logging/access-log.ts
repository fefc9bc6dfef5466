// One JSON line per finished request, in pino's line format (level, time, pid, type, the
// request fields, msg) and written to the destination pino writes to (through the process
// logger's per-turn line batch), but serialized by hand: the line has a fixed shape, so a
// template with a cached prefix costs a fraction of pino's per-call object walk (about 9.7 us
// of 12.9 us per request end in a profile). Logs the key's hash, never the key: and because a
// key may come from the query string (query:NAME), the path is logged without its query.

import type { RequestRecord } from "../forward/types.js";

export interface AccessLog {
  write(r: RequestRecord): void;
}

/** Where finished lines go: ProcessLogger.lines (pino's destination, batched per event-loop turn). */
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
 * A JSON string literal for `s`. Most values (member ids, routes, request ids, plain paths)
 * need no escaping, and a scan is cheaper than JSON.stringify's general path; anything with a
 * quote, backslash, control char or surrogate (a lone one must become \uXXXX) goes through
 * JSON.stringify, which is always correct.
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
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

class FastAccessLog implements AccessLog {
  /** Everything before the time: the same for every line of this process. */
  private readonly head = '{"level":"info","time":';
  /** pid and the child binding, after the time. */
  private readonly bindings = `,"pid":${process.pid},"type":"access","method":`;

  /** The last epoch millisecond written and its text: many lines share a millisecond. */
  private lastMs = -1;
  private lastMsText = "";

  constructor(private readonly sink: LineSink) {}

  private timeText(): string {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastMsText = intText(now);
    }
    return this.lastMsText;
  }

  write(r: RequestRecord): void {
    // Fixed shape and key order: every line has every field, so log pipelines see one schema.
    this.sink.write(
      `${this.head}${this.timeText()}${this.bindings}${jsonString(r.method)},"path":${jsonString(pathOnly(r.path))},"status":${num(r.status)},"route":${jsonString(r.route)},"pool":${jsonString(r.pool)},"member":${jsonString(r.member)},"durationMs":${msText(r.durationMs)},"requestId":${jsonString(r.requestId)},"keyHash":${r.keyHash < 0 ? "null" : intText(r.keyHash)},"attempts":${num(r.attempts)},"ringVersion":${num(r.ringVersion)},"error":${r.errorCode === "" ? "null" : jsonString(r.errorCode)},"upgrade":${r.upgrade ? "true" : "false"},"msg":"request"}\n`,
    );
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
