// The access line encoded straight into the log batch's buffer (access-log.ts, line-bytes.ts)
// must be byte for byte the line JSON.stringify writes for the same record: same fields, same
// order, same escaping (quotes, backslashes, control characters, U+2028, non-ASCII, surrogate
// pairs kept, lone surrogates as \uXXXX), same number text; but DEL, C1 controls and bidi
// overrides, which JSON.stringify leaves raw and a terminal obeys, are \uXXXX escapes too. durationMs is the one field
// JSON.stringify does not write as-is (the line rounds it to microseconds with three
// decimals): it is compared with msText, the text path's writer, and its parsed value with the
// rounded number. Records are seeded and hostile; a failure prints the seed and the case.
//
// The sink lends a buffer and puts every line at a random offset, surrounded by guard bytes:
// a line must stay inside the room it reserved, and a line too long for the buffer must come
// through write() as text, with the same bytes.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { RequestRecord } from "../../proxy/forward/types.js";
import { createAccessLog, msText } from "../../proxy/logging/access-log.js";
import type { BufferLineSink } from "../../proxy/logging/logger.js";
import { seededRandom } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { requestRecord as record } from "../support/request-record.js";

const SEED = testSeed(0x11e5b7e5);
const GUARD = 0xa5;

/** A lending sink: each line lands at a random offset in a guarded buffer; text lines are kept too. */
class CapturingSink implements BufferLineSink {
  readonly buf = Buffer.alloc(40 * 1024);
  readonly lines: Array<{ line: string; via: "bytes" | "text" }> = [];
  private at = -1;
  private room = 0;

  constructor(private readonly rand: () => number) {}

  write(line: string): void {
    this.lines.push({ line, via: "text" });
  }

  reserve(bytes: number): number {
    if (bytes > this.buf.length) return -1;
    this.buf.fill(GUARD);
    this.room = bytes;
    this.at = Math.floor(this.rand() * (this.buf.length - bytes + 1));
    return this.at;
  }

  commit(end: number): void {
    assert.ok(
      end > this.at && end <= this.at + this.room,
      `line [${this.at}, ${end}) outside its room of ${this.room}`,
    );
    if (this.at > 0) assert.equal(this.buf[this.at - 1], GUARD, "wrote before its offset");
    for (let i = end; i < this.at + this.room; i++)
      assert.equal(this.buf[i], GUARD, `wrote past its end at ${i}`);
    this.lines.push({ line: this.buf.toString("utf8", this.at, end), via: "bytes" });
  }
}

/** Characters that need escaping or more than one byte, and plain ones. */
const HOSTILE = [
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)),
  '"',
  "\\",
  "/",
  "?",
  "\u007f",
  "\u0080",
  "\u009b",
  "\u00ff",
  "\u202e",
  "\u2028",
  "\u2029",
  "é",
  "中",
  "😀",
  "\ud800",
  "\udbff",
  "\udc00",
  "\udfff",
  "\ufeff",
  "\uffff",
];
const PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/%:@!$&'()*+,;=";

function value(rand: () => number, maxLength: number): string {
  const n = Math.floor(rand() * (maxLength + 1));
  const hostileShare = rand() < 0.5 ? 0 : rand() * 0.5;
  let s = "";
  for (let i = 0; i < n; i++)
    s +=
      rand() < hostileShare
        ? HOSTILE[Math.floor(rand() * HOSTILE.length)]
        : PLAIN[Math.floor(rand() * PLAIN.length)];
  return s;
}

const ODD_NUMBERS = [
  0,
  -0,
  1,
  -1,
  9,
  10,
  99,
  100,
  999,
  1000,
  65_535,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  1e21,
  1.5,
  -2.25,
  1e-7,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
];

function number(rand: () => number, usual: number): number {
  const p = rand();
  if (p < 0.4) return usual;
  if (p < 0.7) return ODD_NUMBERS[Math.floor(rand() * ODD_NUMBERS.length)];
  return Math.floor(rand() * 2 ** Math.floor(rand() * 54));
}

function duration(rand: () => number): number {
  const p = rand();
  if (p < 0.5) return rand() * 50;
  if (p < 0.6) return -rand() * 5;
  if (p < 0.7) return rand() * 1e9; // past the integer range of the digit path
  if (p < 0.8) return ODD_NUMBERS[Math.floor(rand() * ODD_NUMBERS.length)];
  return Math.floor(rand() * 100_000) / 1000 + 0.0005; // exactly between two microseconds
}

function randomRecord(rand: () => number, long: boolean): RequestRecord {
  const max = long ? 3000 : 24;
  const query = rand() < 0.3 ? `?${value(rand, 12)}` : "";
  return record({
    method: rand() < 0.7 ? "GET" : value(rand, 8),
    path: `/${value(rand, long ? 9000 : 40)}${query}`,
    status: number(rand, 200),
    route: value(rand, max),
    pool: rand() < 0.1 ? "" : value(rand, max),
    member: rand() < 0.1 ? "" : value(rand, max),
    durationMs: duration(rand),
    queuedMs: rand() < 0.8 ? 0 : duration(rand),
    requestId: value(rand, max),
    keyHash: number(rand, Math.floor(rand() * 2 ** 32)),
    attempts: number(rand, 1),
    ringVersion: number(rand, 7),
    errorCode: rand() < 0.7 ? "" : value(rand, max),
    upgrade: rand() < 0.1,
  });
}

/** What the line escapes beyond JSON.stringify: DEL, C1, U+2028/U+2029, bidi overrides and isolates. */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

const DURATION_MARK = "\u0000durationMs\u0000";
const QUEUED_MARK = "\u0000queuedMs\u0000";

/** The line JSON.stringify writes for `r` at epoch millisecond `time` (durationMs as msText writes it). */
function expectedLine(r: RequestRecord, time: number): string {
  const q = r.path.indexOf("?");
  const text = JSON.stringify({
    level: "info",
    time,
    pid: process.pid,
    type: "access",
    method: r.method,
    path: q < 0 ? r.path : r.path.slice(0, q),
    status: r.status,
    route: r.route,
    pool: r.pool,
    member: r.member,
    durationMs: DURATION_MARK,
    queuedMs: QUEUED_MARK,
    requestId: r.requestId,
    keyHash: r.keyHash < 0 ? null : r.keyHash,
    attempts: r.attempts,
    ringVersion: r.ringVersion,
    error: r.errorCode === "" ? null : r.errorCode,
    upgrade: r.upgrade,
    msg: "request",
  });
  return `${text
    .replace(RAW_IN_JSON, unicodeEscape)
    .replace(JSON.stringify(DURATION_MARK), msText(r.durationMs))
    .replace(JSON.stringify(QUEUED_MARK), msText(r.queuedMs))}\n`;
}

function check(r: RequestRecord, got: { line: string }, label: string): void {
  const time = JSON.parse(got.line).time as number;
  assert.equal(got.line, expectedLine(r, time), `${label}: record ${JSON.stringify(r)}`);
  const parsed = JSON.parse(got.line) as { durationMs: number | null };
  const d = r.durationMs;
  // + 0: a rounded -0 is written "0.000" (as JSON.stringify writes -0).
  assert.equal(parsed.durationMs, Number.isFinite(d) ? Math.round(d * 1000) / 1000 + 0 : null, label);
}

test("the byte-encoded access line equals JSON.stringify's line for seeded hostile records", () => {
  const rand = seededRandom(SEED);
  const sink = new CapturingSink(rand);
  const log = createAccessLog(sink, true);
  const records: RequestRecord[] = [];
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const r = randomRecord(rand, i % 50 === 49);
    records.push(r);
    before.push(Date.now());
    log.write(r);
    after.push(Date.now());
  }
  assert.equal(sink.lines.length, records.length);
  let viaBytes = 0;
  records.forEach((r, i) => {
    check(r, sink.lines[i], `${seedNote(SEED)} case ${i} (${sink.lines[i].via})`);
    // The time is the clock's when the line was written (the cached millisecond is kept current).
    const time = JSON.parse(sink.lines[i].line).time as number;
    assert.ok(
      time >= before[i] && time <= after[i],
      `case ${i}: time ${time} not in [${before[i]}, ${after[i]}]`,
    );
    if (sink.lines[i].via === "bytes") viaBytes++;
  });
  // Nearly every line goes through the buffer; only the longest ones come as text.
  assert.ok(
    viaBytes > records.length * 0.95,
    `only ${viaBytes} of ${records.length} lines were byte-encoded`,
  );
});

test("a line longer than the buffer comes through write() as text, with the same bytes", () => {
  const rand = seededRandom(SEED + 1);
  const sink = new CapturingSink(rand);
  const log = createAccessLog(sink, true);
  const long = [
    record({ path: `/${"a".repeat(50_000)}?secret=1` }),
    record({ requestId: '\u0001\ud800"'.repeat(4000) }),
    record({ route: "é".repeat(10_000), member: "中".repeat(2000) }),
  ];
  for (const r of long) log.write(r);
  assert.deepEqual(
    sink.lines.map((l) => l.via),
    ["text", "text", "text"],
  );
  for (let i = 0; i < long.length; i++) check(long[i], sink.lines[i], `long case ${i}`);
  // And one just under the buffer's size still goes through the buffer.
  const fits = record({ path: `/${"b".repeat(5000)}` });
  log.write(fits);
  assert.equal(sink.lines[3].via, "bytes");
  check(fits, sink.lines[3], "long case that fits");
});

test("lines repeating a few routes, pools and members equal JSON.stringify's, whatever came before them", () => {
  // The route/pool/member fields are kept per member once encoded (putPlace), found by the
  // record's member slot first: the same member under another route or pool, an equal id in
  // another string, one slot held by members of two pools (slots are per pool), a member under
  // another slot after a reload, and more members than are kept must each still come out as
  // their own record says.
  const rand = seededRandom(SEED + 2);
  const sink = new CapturingSink(rand);
  const log = createAccessLog(sink, true);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const members = ["m1", "m2", "", value(rand, 12), '"m\\1"', "é"];
  const routes = ["*/", "api.example.com/v1", value(rand, 12)];
  const pools = ["bench", "other", ""];
  const records: RequestRecord[] = [];
  for (let i = 0; i < 3000; i++) {
    // An equal id in a fresh string now and then, as a reloaded snapshot would hand over.
    const m = pick(members);
    records.push(
      randomRecordAt(rand, {
        route: pick(routes),
        pool: pick(pools),
        member: rand() < 0.2 ? ` ${m}`.slice(1) : m,
        memberSlot: Math.floor(rand() * 4) - 1,
      }),
    );
  }
  // More members than are kept, then the first ones again.
  for (let i = 0; i < 5000; i++)
    records.push(record({ member: `n${i}`, route: pick(routes), pool: pick(pools), memberSlot: i }));
  for (let i = 0; i < 50; i++)
    records.push(record({ member: `n${i}`, route: pick(routes), pool: pick(pools), memberSlot: 49 - i }));
  for (const r of records) log.write(r);
  assert.equal(sink.lines.length, records.length);
  for (let i = 0; i < records.length; i++)
    check(records[i], sink.lines[i], `${seedNote(SEED + 2)} case ${i} (${sink.lines[i].via})`);
});

/** A seeded record with the given route, pool and member. */
function randomRecordAt(
  rand: () => number,
  place: { route: string; pool: string; member: string; memberSlot: number },
): RequestRecord {
  const r = randomRecord(rand, false);
  return record({ ...r.toJSON(), ...place });
}
