// In-process tests of the apply flow (RuntimeState) and of the metric series bookkeeping
// (SeriesCache + MetricsObserver): flags survive reloads, only the changed pool is rebuilt,
// a failed build changes nothing, and a member that leaves takes all its series with it.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { configSchema, type ShardgateConfigInput } from "../../config/schema.js";
import { RuntimeState } from "../../proxy/app/runtime-state.js";
import type { RequestRecord } from "../../proxy/forward/types.js";
import { createAccessLog } from "../../proxy/logging/access-log.js";
import { createProcessLogger } from "../../proxy/logging/logger.js";
import { MetricsObserver } from "../../proxy/metrics/observer.js";
import { createMetrics } from "../../proxy/metrics/registry.js";
import { SeriesCache } from "../../proxy/metrics/series-cache.js";
import { metricLines, metricValue } from "../support/shardgate-process.js";

function routing(input: Omit<ShardgateConfigInput, "routes"> & { routes?: ShardgateConfigInput["routes"] }) {
  const c = configSchema.parse({
    routes: [{ pool: Object.keys(input.pools ?? {})[0], key: ["header:x-user-id"] }],
    ...input,
  });
  return { pools: c.pools, routes: c.routes };
}

const TWO_POOLS = routing({
  pools: {
    a: {
      members: [
        { id: "a1", address: "127.0.0.1:1001" },
        { id: "a2", address: "127.0.0.1:1002" },
      ],
    },
    b: { algorithm: "maglev", tableSize: 101, members: [{ id: "b1", address: "127.0.0.1:2001" }] },
  },
});

describe("RuntimeState", () => {
  test("a config apply builds every pool at the next version", () => {
    const rt = new RuntimeState();
    assert.equal(rt.applied, false);
    const change = rt.applyConfig(TWO_POOLS);
    assert.equal(rt.applied, true);
    assert.equal(change.state.ringVersion, 1);
    assert.deepEqual([...change.state.pools.keys()], ["a", "b"]);
    assert.deepEqual(change.rebuiltPools, ["a", "b"]);
    assert.equal(rt.current(), change.state);
    assert.equal(change.state.pools.get("b")?.table.algorithm, "maglev");
  });

  test("a health change rebuilds only its pool; a no-op change bumps nothing", () => {
    const rt = new RuntimeState();
    const first = rt.applyConfig(TWO_POOLS).state;
    const r = rt.applyHealth("a", "a2", false);
    assert.ok(r.ok && r.changed);
    const next = rt.current();
    assert.notEqual(next, first, "a new state object: swapped by reference");
    assert.equal(next.ringVersion, 2);
    assert.equal(next.pools.get("b"), first.pools.get("b"), "the untouched pool keeps its snapshot object");
    assert.notEqual(next.pools.get("a"), first.pools.get("a"));
    const a = next.pools.get("a");
    assert.deepEqual(
      a?.members.map((m) => [m.id, m.healthy, a.eligible[m.index]]),
      [
        ["a1", true, 1],
        ["a2", false, 0],
      ],
    );
    assert.equal(first.pools.get("a")?.members[1].healthy, true, "the old snapshot is never mutated");
    const again = rt.applyHealth("a", "a2", false);
    assert.ok(again.ok && !again.changed);
    assert.equal(rt.ringVersion, 2);
  });

  test("flags survive a reload for members that stay; a moved member restarts healthy but stays drained", () => {
    const rt = new RuntimeState();
    rt.applyConfig(TWO_POOLS);
    rt.applyHealth("a", "a1", false);
    rt.applyDrain("a", "a1", true);
    rt.applyHealth("a", "a2", false);
    rt.applyDrain("a", "a2", true);
    const moved = routing({
      pools: {
        a: {
          members: [
            { id: "a1", address: "127.0.0.1:1001" },
            { id: "a2", address: "127.0.0.1:1999" },
            { id: "a3", address: "127.0.0.1:1003" },
          ],
        },
      },
    });
    const change = rt.applyConfig(moved);
    assert.deepEqual(rt.flagsOf("a", "a1"), { healthy: false, draining: true });
    assert.deepEqual(rt.flagsOf("a", "a2"), { healthy: true, draining: true });
    assert.deepEqual(rt.flagsOf("a", "a3"), { healthy: true, draining: false });
    assert.deepEqual(change.removedPools, ["b"]);
    assert.deepEqual(change.removedMembers, [{ pool: "b", member: "b1" }]);
    const shrunk = rt.applyConfig(
      routing({ pools: { a: { members: [{ id: "a3", address: "127.0.0.1:1003" }] } } }),
    );
    assert.deepEqual(shrunk.removedMembers, [
      { pool: "a", member: "a1" },
      { pool: "a", member: "a2" },
    ]);
  });

  test("a config that cannot be built throws and leaves the applied state untouched", () => {
    const rt = new RuntimeState();
    rt.applyConfig(TWO_POOLS);
    const before = rt.current();
    const bad = routing({ pools: { a: { members: [{ id: "a1", address: "127.0.0.1:1001" }] } } });
    // Past the schema (which would refuse it): a Maglev table size that is not prime.
    const broken = { ...bad, pools: { a: { ...bad.pools.a, algorithm: "maglev" as const, tableSize: 100 } } };
    assert.throws(() => rt.applyConfig(broken), /prime/);
    assert.equal(rt.current(), before);
    assert.equal(rt.ringVersion, 1);
    assert.deepEqual(Object.keys(rt.config?.pools ?? {}), ["a", "b"]);
  });

  test("an explicit version (a Raft index) is used as given and must move forward", () => {
    const rt = new RuntimeState();
    assert.equal(rt.applyConfig(TWO_POOLS, 40).state.ringVersion, 40);
    const r = rt.applyDrain("a", "a1", true, 57);
    assert.ok(r.ok && r.changed);
    assert.equal(rt.current().ringVersion, 57);
    assert.equal(rt.current().pools.get("a")?.ringVersion, 57);
    assert.equal(rt.current().pools.get("b")?.ringVersion, 40, "pool b was not rebuilt");
    assert.throws(() => rt.applyHealth("a", "a1", false, 57), RangeError);
    assert.throws(() => rt.applyConfig(TWO_POOLS, 3), RangeError);
    assert.equal(rt.ringVersion, 57, "refused versions change nothing");
    assert.equal(rt.flagsOf("a", "a1")?.healthy, true);
  });

  test("unknown pools and members are refused; a throwing listener is reported, not fatal", () => {
    const errors: unknown[] = [];
    const rt = new RuntimeState((e) => errors.push(e));
    rt.onApply(() => {
      throw new Error("listener broke");
    });
    rt.applyConfig(TWO_POOLS);
    assert.equal(errors.length, 1);
    assert.equal(rt.ringVersion, 1, "the apply stands");
    assert.deepEqual(rt.applyDrain("zz", "a1", true), {
      ok: false,
      error: "unknown_pool",
      message: 'no pool named "zz"',
    });
    const r = rt.applyDrain("a", "zz", true);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error, "unknown_member");
  });
});

function record(fields: Partial<RequestRecord>): RequestRecord {
  const r = {
    method: "GET",
    path: "/",
    status: 200,
    route: "*/",
    pool: "p",
    member: "m1",
    durationMs: 2,
    requestId: "r",
    keyHash: 1,
    attempts: 1,
    ringVersion: 1,
    errorCode: "",
    upgrade: false,
    startedAt: 0,
    ...fields,
  };
  return { ...r, toJSON: () => r } as RequestRecord;
}

describe("metric series bookkeeping", () => {
  test("requests are counted by route/pool/member/code class; a leaver's series all vanish", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const series = new SeriesCache(metrics);
    const obs = new MetricsObserver(series, createAccessLog(undefined as never, false));
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
    obs.onRetry(record({}), "m2", "connect", "m1");
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
    assert.deepEqual(metricLines(text, "shardgate_requests_in_flight"), []);

    series.removePool("p");
    text = await metrics.registry.metrics();
    assert.ok(!text.includes('pool="p"'), "a removed pool leaves no series");
  });
});

describe("access log", () => {
  test("writes one line per request at any log level, with the path's query stripped; off when disabled", () => {
    const dir = mkdtempSync(join(tmpdir(), "shardgate-access-"));
    try {
      for (const enabled of [true, false]) {
        const file = join(dir, `log-${enabled}.jsonl`);
        const log = createProcessLogger({ level: "warn", destination: file, sync: true });
        const access = createAccessLog(log.logger, enabled);
        log.logger.info("an info line the warn level drops");
        access.write(record({ path: "/orders?user=alice", keyHash: 99, requestId: "rid-1" }));
        access.write(record({ keyHash: -1, errorCode: "no_route", status: 404, pool: "", member: "" }));
        log.flush();
        const lines = readFileSync(file, "utf8")
          .trim()
          .split("\n")
          .filter((l) => l !== "");
        if (!enabled) {
          assert.deepEqual(lines, []);
          continue;
        }
        assert.equal(lines.length, 2, lines.join("\n"));
        const a = JSON.parse(lines[0]);
        assert.equal(a.type, "access");
        assert.equal(a.path, "/orders");
        assert.equal(a.keyHash, 99);
        assert.equal(a.requestId, "rid-1");
        assert.ok(!lines[0].includes("alice"));
        const b = JSON.parse(lines[1]);
        assert.equal(b.keyHash, null);
        assert.equal(b.error, "no_route");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
