// The data plane's observer on its two outputs. Metrics: requests are counted by
// route/pool/member/code class from cached series, and a member that leaves takes all its
// series with it. Access log: one JSON line per request in pino's line format, written by
// hand to pino's destination; every line must parse and round-trip its fields whatever the
// request carried (quotes, backslashes, control characters, unicode, lone surrogates), the
// query is never logged, and the lines interleave with pino's own lines in one file.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { RequestRecord } from "../../proxy/forward/types.js";
import { createAccessLog, jsonString, msText } from "../../proxy/logging/access-log.js";
import { createProcessLogger } from "../../proxy/logging/logger.js";
import { MetricsObserver } from "../../proxy/metrics/observer.js";
import { createMetrics } from "../../proxy/metrics/registry.js";
import { SeriesCache } from "../../proxy/metrics/series-cache.js";
import { seededRandom } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { requestRecord as record } from "../support/request-record.js";
import { metricLines, metricValue } from "../support/shardgate-process.js";
import { CONDITION_DEADLINE_MS, scaled } from "../support/wait.js";

const SEED = testSeed(0xacce55);

const KEYS = [
  "level",
  "time",
  "pid",
  "type",
  "method",
  "path",
  "status",
  "route",
  "pool",
  "member",
  "durationMs",
  "queuedMs",
  "requestId",
  "keyHash",
  "attempts",
  "ringVersion",
  "error",
  "upgrade",
  "msg",
];

/** Characters that break naive JSON building, plus plain ones. */
const ALPHABET = [
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)),
  '"',
  "\\",
  "/",
  "\u007f",
  "\u009b",
  "\u202e",
  "\u2028",
  "\u2029",
  "é",
  "ü",
  "中",
  "😀",
  "\ud800",
  "\udfff",
  "a",
  "Z",
  "0",
  "-",
  "%22",
  " ",
];

function oddString(rand: () => number, max: number): string {
  const n = 1 + Math.floor(rand() * max);
  let s = "";
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return s;
}

function readLines(file: string): string[] {
  // The complete lines only: an asynchronous destination may be read mid-write, and the text
  // after the last newline is then a line still being written. Nor may it have opened the file
  // yet (sonic-boom opens it asynchronously): no file is no lines.
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter((l) => l !== "");
}

/** JSON.stringify's text with DEL, C1 controls and bidi overrides escaped, as a log line must be. */
function logJson(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

test("jsonString matches JSON.stringify on plain and odd strings, with terminal controls escaped", () => {
  const rand = seededRandom(SEED);
  for (const s of ["", "plain", "/a/b?c=d", "é中😀"]) assert.equal(jsonString(s), JSON.stringify(s));
  assert.equal(jsonString("/a\u009b2J\u202e\u007f"), '"/a\\u009b2J\\u202e\\u007f"');
  for (let i = 0; i < 2000; i++) {
    const s = oddString(rand, 12);
    assert.equal(jsonString(s), logJson(s), `${seedNote(SEED)} case ${i}: ${JSON.stringify(s)}`);
  }
});

test("every line parses, in pino's key order, and round-trips odd paths, ids and codes", () => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-access-"));
  try {
    const file = join(dir, "access.jsonl");
    const log = createProcessLogger({ level: "info", destination: file, sync: true });
    const access = createAccessLog(log.lines, true);
    const rand = seededRandom(SEED);
    const written: RequestRecord[] = [];
    for (let i = 0; i < 300; i++) {
      const r = record({
        method: i % 7 === 0 ? oddString(rand, 5) : "GET",
        path: `/${oddString(rand, 20)}${i % 3 === 0 ? `?user=secret-${i}` : ""}`,
        status: 200 + (i % 400),
        route: oddString(rand, 6),
        pool: i % 5 === 0 ? "" : oddString(rand, 6),
        member: i % 5 === 0 ? "" : oddString(rand, 6),
        durationMs: rand() * 1000,
        requestId: oddString(rand, 10),
        keyHash: i % 4 === 0 ? -1 : Math.floor(rand() * 2 ** 32),
        attempts: i % 4,
        ringVersion: i,
        errorCode: i % 6 === 0 ? oddString(rand, 8) : "",
        upgrade: i % 9 === 0,
      });
      written.push(r);
      access.write(r);
      // pino's own lines share the file.
      if (i % 50 === 0) log.logger.info({ i }, "between");
    }
    log.flush();
    const lines = readLines(file).filter((l) => l.includes('"type":"access"'));
    assert.equal(lines.length, written.length);
    lines.forEach((line, i) => {
      let a: Record<string, unknown>;
      try {
        a = JSON.parse(line);
      } catch (err) {
        assert.fail(`${seedNote(SEED)} line ${i} does not parse (${String(err)}): ${line}`);
      }
      const r = written[i];
      const where = `${seedNote(SEED)} line ${i}: ${line}`;
      assert.deepEqual(Object.keys(a), KEYS, where);
      assert.equal(a.level, "info");
      assert.equal(typeof a.time, "number");
      assert.equal(a.pid, process.pid);
      assert.equal(a.msg, "request");
      assert.equal(a.method, r.method, where);
      const q = r.path.indexOf("?");
      assert.equal(a.path, q < 0 ? r.path : r.path.slice(0, q), where);
      assert.ok(!line.includes("secret-"), where);
      assert.equal(a.route, r.route, where);
      assert.equal(a.pool, r.pool, where);
      assert.equal(a.member, r.member, where);
      assert.equal(a.requestId, r.requestId, where);
      assert.equal(a.status, r.status);
      assert.equal(a.durationMs, Math.round(r.durationMs * 1000) / 1000);
      assert.equal(a.keyHash, r.keyHash < 0 ? null : r.keyHash);
      assert.equal(a.attempts, r.attempts);
      assert.equal(a.ringVersion, r.ringVersion);
      assert.equal(a.error, r.errorCode === "" ? null : r.errorCode, where);
      assert.equal(a.upgrade, r.upgrade);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("same fields and order as pino's own line for the same record", () => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-access-"));
  try {
    const file = join(dir, "both.jsonl");
    const log = createProcessLogger({ level: "info", destination: file, sync: true });
    const r = record({ path: '/a"b\\c?x=1', requestId: "rid-1", keyHash: 99, durationMs: 1.23456 });
    createAccessLog(log.lines, true).write(r);
    log.logger.child({ type: "access" }).info(
      {
        method: r.method,
        path: '/a"b\\c',
        status: r.status,
        route: r.route,
        pool: r.pool,
        member: r.member,
        durationMs: 1.235,
        queuedMs: 0,
        requestId: r.requestId,
        keyHash: r.keyHash,
        attempts: r.attempts,
        ringVersion: r.ringVersion,
        error: null,
        upgrade: r.upgrade,
      },
      "request",
    );
    log.flush();
    const [ours, pinos] = readLines(file).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(ours !== undefined && pinos !== undefined);
    delete ours.time;
    delete pinos.time;
    assert.deepEqual(Object.entries(ours), Object.entries(pinos));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("batched (asynchronous) destination: lines keep their order, and flushWithin() writes out what is pending", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-access-"));
  try {
    const file = join(dir, "async.jsonl");
    const log = createProcessLogger({ level: "info", destination: file });
    const access = createAccessLog(log.lines, true);
    // More than one batch's worth in one turn (a batch is handed over at 16 KiB).
    for (let i = 0; i < 1000; i++) access.write(record({ requestId: `r${i}` }));
    const ids = () => readLines(file).map((l) => (JSON.parse(l) as { requestId: string }).requestId);
    const deadline = Date.now() + scaled(CONDITION_DEADLINE_MS);
    while (ids().length < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      ids(),
      Array.from({ length: 1000 }, (_, i) => `r${i}`),
    );
    for (let i = 1000; i < 1003; i++) access.write(record({ requestId: `r${i}` }));
    // flush() never blocks (a destination that takes nothing must not hold an exit); flushWithin
    // waits, boundedly, for the write it starts.
    await log.flushWithin(5_000);
    assert.deepEqual(
      ids().slice(-3),
      ["r1000", "r1001", "r1002"],
      "flushWithin() wrote the pending turn's lines",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writes at any log level (warn drops pino's info lines, not access lines); nothing when disabled", () => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-access-"));
  try {
    for (const enabled of [true, false]) {
      const file = join(dir, `log-${enabled}.jsonl`);
      const log = createProcessLogger({ level: "warn", destination: file, sync: true });
      const access = createAccessLog(log.lines, enabled);
      log.logger.info("an info line the warn level drops");
      access.write(record({ path: "/orders?user=alice", keyHash: 99, requestId: "rid-1" }));
      access.write(record({ keyHash: -1, errorCode: "no_route", status: 404, pool: "", member: "" }));
      log.flush();
      const lines = readLines(file);
      if (!enabled) {
        assert.deepEqual(lines, []);
        continue;
      }
      assert.equal(lines.length, 2, lines.join("\n"));
      const a = JSON.parse(lines[0]);
      assert.equal(a.type, "access");
      assert.equal(a.path, "/orders");
      assert.equal(a.keyHash, 99);
      assert.ok(!lines[0].includes("alice"));
      const b = JSON.parse(lines[1]);
      assert.equal(b.keyHash, null);
      assert.equal(b.error, "no_route");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("metric series bookkeeping", () => {
  test("requests are counted by route/pool/member/code class; a leaver's series all vanish", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const series = new SeriesCache(metrics);
    const obs = new MetricsObserver(series, createAccessLog({ write() {} }, false));
    metrics.inFlightSource = () => obs.inFlightByPool();
    series.syncMembers("p", ["m1", "m2"]);
    const open = record({ member: "m2" });
    obs.onRequestStart(open);
    for (const [member, status] of [
      ["m1", 200],
      ["m1", 503],
      ["m2", 404],
      ["", 503],
    ] as const) {
      const r = record({ member, status });
      obs.onRequestStart(r);
      obs.onRequestEnd(r);
    }
    obs.onUpstreamError(record({}), "p", "m2", "connect");
    obs.onRetry(record({}));
    series.pool("p").member("m2").healthTransitions("unhealthy").inc();
    series.pool("p").member("m2").setFlags(false, false);
    let text = await metrics.registry.metrics();
    const v = (name: string, labels: Record<string, string>) => metricValue(text, name, labels);
    assert.equal(
      v("shardgate_requests_total", { route: "*/", pool: "p", member: "m1", code_class: "2xx" }),
      1,
    );
    assert.equal(
      v("shardgate_requests_total", { route: "*/", pool: "p", member: "m1", code_class: "5xx" }),
      1,
    );
    assert.equal(
      v("shardgate_requests_total", { route: "*/", pool: "p", member: "m2", code_class: "4xx" }),
      1,
    );
    assert.equal(
      v("shardgate_requests_total", { route: "*/", pool: "p", member: "none", code_class: "5xx" }),
      1,
    );
    assert.equal(v("shardgate_upstream_connect_errors_total", { pool: "p", member: "m2" }), 1);
    assert.equal(v("shardgate_upstream_errors_total", { pool: "p", member: "m2", kind: "connect" }), 1);
    assert.equal(v("shardgate_retries_total", { pool: "p" }), 1);
    assert.equal(v("shardgate_request_duration_seconds_count", { pool: "p" }), 4);
    assert.equal(v("shardgate_requests_in_flight", { pool: "p" }), 1, "the one still open");
    assert.ok(text.includes('member="m2"'));

    series.syncMembers("p", ["m1"]);
    text = await metrics.registry.metrics();
    assert.ok(
      !text.includes('member="m2"'),
      `m2 series left behind:\n${text
        .split("\n")
        .filter((l) => l.includes("m2"))
        .join("\n")}`,
    );
    // A request from an old snapshot finishing after the reload must not resurrect m2.
    obs.onRequestEnd(open);
    text = await metrics.registry.metrics();
    assert.ok(!text.includes('member="m2"'));
    assert.equal(
      metricValue(text, "shardgate_requests_total", {
        route: "*/",
        pool: "p",
        member: "removed",
        code_class: "2xx",
      }),
      1,
    );
    // Nothing left in flight: the pool (it still has m1) reads 0, as every idle pool does.
    assert.deepEqual(metricLines(text, "shardgate_requests_in_flight"), [
      'shardgate_requests_in_flight{pool="p"} 0',
    ]);

    series.removePool("p");
    text = await metrics.registry.metrics();
    assert.ok(!text.includes('pool="p"'), "a removed pool leaves no series");
  });

  test("a member that served nothing holds no counters; its flags and first requests show at scrape", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const series = new SeriesCache(metrics);
    const obs = new MetricsObserver(series, createAccessLog({ write() {} }, false));
    series.syncMembers("p", ["m1", "m2"]);
    const [m1, m2] = [series.pool("p").member("m1"), series.pool("p").member("m2")];
    const zero = { rate: 0, errorRate: 0, p50: null, p99: null };
    assert.deepEqual(m2.window.read(0), zero);
    // The dashboard's window starts with the first read after the member's first request.
    const served = (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = record({ member: "m1", durationMs: 2 });
        obs.onRequestStart(r);
        obs.onRequestEnd(r);
      }
    };
    served(1);
    m1.window.read(0);
    served(4);
    assert.equal(m1.window.read(1000).rate, 4);
    assert.equal(m1.live.count, 5);
    assert.deepEqual(m2.window.read(1000), zero, "an idle member reads zeros");
    assert.equal(m2.live.count, 0);
    m1.setFlags(true, false);
    m2.setFlags(false, true);
    const text = await metrics.registry.metrics();
    const v = (name: string, labels: Record<string, string>) => metricValue(text, name, labels);
    assert.equal(v("shardgate_member_healthy", { pool: "p", member: "m1" }), 1);
    assert.equal(v("shardgate_member_healthy", { pool: "p", member: "m2" }), 0);
    assert.equal(v("shardgate_member_draining", { pool: "p", member: "m2" }), 1);
    assert.equal(
      v("shardgate_requests_total", { route: "*/", pool: "p", member: "m1", code_class: "2xx" }),
      5,
    );
    assert.equal(v("shardgate_member_request_duration_seconds_count", { pool: "p", member: "m1" }), 5);
    assert.deepEqual(
      metricLines(text, "shardgate_requests_total").filter((l) => l.includes('member="m2"')),
      [],
      "no request series for a member without requests",
    );
  });

  test("a route the applied table no longer has loses its series on every member; late requests count as 'removed'", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const series = new SeriesCache(metrics);
    const obs = new MetricsObserver(series, createAccessLog({ write() {} }, false));
    series.syncMembers("p", ["m1", "m2"]);
    series.syncRoutes(["*/", "*/api"]);
    const late = record({ route: "*/api", member: "m2" });
    obs.onRequestStart(late);
    for (const [route, member] of [
      ["*/", "m1"],
      ["*/api", "m1"],
      ["*/api", "m2"],
      ["*/api", ""],
    ] as const) {
      const r = record({ route, member });
      obs.onRequestStart(r);
      obs.onRequestEnd(r);
    }
    let text = await metrics.registry.metrics();
    assert.equal(
      metricLines(text, "shardgate_requests_total").filter((l) => l.includes('route="*/api"')).length,
      3,
    );

    series.syncRoutes(["*/"]);
    text = await metrics.registry.metrics();
    assert.deepEqual(
      metricLines(text, "shardgate_requests_total").filter((l) => l.includes('route="*/api"')),
      [],
      "every member's series of the removed route are gone, the 'none' member's too",
    );
    assert.equal(
      metricValue(text, "shardgate_requests_total", {
        route: "*/",
        pool: "p",
        member: "m1",
        code_class: "2xx",
      }),
      1,
      "the route that stays keeps its count",
    );
    // A request routed by the old table, finishing after the reload, does not bring it back.
    obs.onRequestEnd(late);
    text = await metrics.registry.metrics();
    assert.ok(!text.includes('route="*/api"'));
    assert.equal(
      metricValue(text, "shardgate_requests_total", {
        route: "removed",
        pool: "p",
        member: "m2",
        code_class: "2xx",
      }),
      1,
    );
    // Re-adding the route counts it under its own label again.
    series.syncRoutes(["*/", "*/api"]);
    const again = record({ route: "*/api", member: "m1" });
    obs.onRequestStart(again);
    obs.onRequestEnd(again);
    text = await metrics.registry.metrics();
    assert.equal(
      metricValue(text, "shardgate_requests_total", {
        route: "*/api",
        pool: "p",
        member: "m1",
        code_class: "2xx",
      }),
      1,
    );
  });
});

test("msText writes milliseconds rounded to microseconds as JSON number text", () => {
  for (const [x, text] of [
    [0, "0.000"],
    [0.0004, "0.000"],
    [0.0005, "0.001"],
    [1.5, "1.500"],
    [12.3456, "12.346"],
    [999.9999, "1000.000"],
    [-0.25, "-0.250"],
    [Number.NaN, "null"],
    [Number.POSITIVE_INFINITY, "null"],
  ] as const) {
    assert.equal(msText(x), text, `msText(${x})`);
    if (text !== "null")
      assert.equal(JSON.parse(text), (Math.round(Math.abs(x) * 1000) / 1000) * Math.sign(x || 1));
  }
  // Past the small-integer range the plain conversion is used.
  assert.equal(msText(2e9), "2000000000");
});

describe("member series sync", () => {
  test("leavers are removed whether the ids come in order (binary search) or not (a set)", () => {
    const series = new SeriesCache(createMetrics({ processMetrics: false }));
    const ids = () => [...series.pool("q").members.keys()].sort();
    series.syncMembers("q", ["a", "b", "c", "d"]);
    assert.deepEqual(ids(), ["a", "b", "c", "d"]);
    series.syncMembers("q", ["a", "c", "d", "e"]); // in order: b leaves, e joins
    assert.deepEqual(ids(), ["a", "c", "d", "e"]);
    series.syncMembers("q", ["e", "a", "f"]); // out of order: c and d leave
    assert.deepEqual(ids(), ["a", "e", "f"]);
    series.syncMembers("q", ["f"]); // in order, first and middle leave
    assert.deepEqual(ids(), ["f"]);
  });
});
