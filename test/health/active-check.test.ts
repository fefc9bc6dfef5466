// Active health checker tests with real upstream HTTP servers on loopback.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { test } from "node:test";
import { type HealthCheckConfig, poolSchema } from "../../config/file/schema.js";
import { ActiveHealthChecker } from "../../health/active-check.js";
import { testSeed } from "../support/prng.js";
import { CONDITION_DEADLINE_MS, eventually } from "../support/wait.js";

const SEED = testSeed(99);

interface Upstream {
  port: number;
  status: number;
  delayMs: number;
  hits: number;
  hitTimes: number[];
  sockets: Set<Socket>;
  close(): Promise<void>;
  listen(port?: number): Promise<void>;
}

async function upstream(t: { after(fn: () => Promise<void>): void }): Promise<Upstream> {
  const u: Upstream = {
    port: 0,
    status: 200,
    delayMs: 0,
    hits: 0,
    hitTimes: [],
    sockets: new Set(),
    close: async () => {},
    listen: async () => {},
  };
  const server = http.createServer((_req, res) => {
    u.hits++;
    u.hitTimes.push(performance.now());
    const reply = () => {
      if (!res.destroyed) {
        res.writeHead(u.status);
        res.end("x");
      }
    };
    if (u.delayMs > 0) setTimeout(reply, u.delayMs).unref();
    else reply();
  });
  server.on("connection", (s: Socket) => {
    u.sockets.add(s);
    s.on("close", () => u.sockets.delete(s));
  });
  let listening = false;
  u.listen = async (port = 0) => {
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
    listening = true;
    u.port = (server.address() as AddressInfo).port;
  };
  u.close = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of u.sockets) s.destroy();
    await closed;
  };
  await u.listen();
  t.after(() => u.close());
  return u;
}

/** A healthCheck section as written in a config file, through the schema the checker trusts. */
function check(section: Record<string, unknown>): HealthCheckConfig {
  const hc = poolSchema.parse({ healthCheck: { path: "/health", ...section } }).healthCheck;
  assert.ok(hc);
  return hc;
}

function recorder() {
  const events: { id: string; healthy: boolean; reason: string }[] = [];
  return {
    events,
    on: (id: string, healthy: boolean, reason: string) => events.push({ id, healthy, reason }),
  };
}

test("first probe decides; thresholds are respected both ways", async (t) => {
  const u = await upstream(t);
  const rec = recorder();
  let failuresAtDown = -1;
  let successesAtUp = -1;
  const checker = new ActiveHealthChecker(
    // Generous: a loopback probe slower than this is the loaded machine's, and would break the counts
    // (300 ms timed the first probe out at load 30).
    check({ path: "/hc", interval: 1000, timeout: 1000, healthyThreshold: 2, unhealthyThreshold: 3 }),
    (id, healthy, reason) => {
      rec.on(id, healthy, reason);
      const s = checker.state(id);
      if (!healthy) failuresAtDown = s?.consecutiveFailures ?? -2;
      else if (rec.events.length > 1) successesAtUp = s?.consecutiveSuccesses ?? -2;
    },
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "a", address: "127.0.0.1", port: u.port }]);
  await eventually(
    "initially healthy",
    () => (rec.events.length > 0 ? true : undefined),
    CONDITION_DEADLINE_MS,
  );
  assert.deepEqual(rec.events[0], { id: "a", healthy: true, reason: "status 200" });
  u.status = 503;
  await eventually("unhealthy", () => (rec.events.length > 1 ? true : undefined), CONDITION_DEADLINE_MS);
  assert.equal(rec.events[1].healthy, false);
  assert.match(rec.events[1].reason, /status 503 outside 200-399/);
  assert.equal(failuresAtDown, 3, "turned unhealthy exactly at the third consecutive failure");
  u.status = 204;
  await eventually("healthy again", () => (rec.events.length > 2 ? true : undefined), CONDITION_DEADLINE_MS);
  assert.equal(rec.events[2].healthy, true);
  assert.equal(successesAtUp, 2, "turned healthy exactly at the second consecutive success");
});

test("a dead member goes unhealthy and comes back healthy on the same port", async (t) => {
  const u = await upstream(t);
  const rec = recorder();
  const checker = new ActiveHealthChecker(
    // Generous: a slow probe on a loaded machine must not add a flip to the sequence asserted below.
    check({ interval: 250, timeout: 250, healthyThreshold: 1, unhealthyThreshold: 2 }),
    rec.on,
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "m", address: "127.0.0.1", port: u.port }]);
  await eventually("healthy", () => (checker.state("m")?.healthy === true ? true : undefined), 5000);
  const port = u.port;
  await u.close();
  await eventually("unhealthy", () => (checker.state("m")?.healthy === false ? true : undefined), 5000);
  assert.match(checker.state("m")?.lastReason ?? "", /ECONNREFUSED|ECONNRESET|socket hang up/);
  // The controller's flush reads observedHealth (no state object per member): the same verdict.
  assert.equal(checker.observedHealth("m"), checker.state("m")?.healthy);
  assert.equal(checker.observedHealth("not-a-member"), undefined);
  await u.listen(port);
  await eventually("healthy again", () => (checker.state("m")?.healthy === true ? true : undefined), 5000);
  assert.deepEqual(
    rec.events.map((e) => e.healthy),
    [true, false, true],
  );
});

test("a probe that exceeds the timeout counts as a failure", async (t) => {
  const u = await upstream(t);
  u.delayMs = 2000;
  const rec = recorder();
  const checker = new ActiveHealthChecker(
    check({ interval: 100, timeout: 50, unhealthyThreshold: 1 }),
    rec.on,
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "slow", address: "127.0.0.1", port: u.port }]);
  await eventually("unhealthy", () => (rec.events.length > 0 ? true : undefined), 5000);
  assert.deepEqual(rec.events[0], { id: "slow", healthy: false, reason: "timeout after 50ms" });
});

test("setMembers reconciles: new members start, removed ones stop being probed", async (t) => {
  const a = await upstream(t);
  const b = await upstream(t);
  const checker = new ActiveHealthChecker(check({ interval: 40, timeout: 40 }), () => {}, SEED);
  t.after(() => checker.stop());
  checker.setMembers([{ id: "a", address: "127.0.0.1", port: a.port }]);
  await eventually("a probed", () => (a.hits >= 2 ? true : undefined), 5000);
  checker.setMembers([{ id: "b", address: "127.0.0.1", port: b.port }]);
  assert.equal(checker.state("a"), undefined);
  await eventually("b probed", () => (b.hits >= 2 ? true : undefined), 5000);
  const aHits = a.hits;
  await eventually("b probed more", () => (b.hits >= 6 ? true : undefined), 5000);
  assert.equal(a.hits, aHits, "removed member no longer probed");
});

test("first probes are jittered across the interval, not in lockstep", async (t) => {
  const servers = await Promise.all(Array.from({ length: 6 }, () => upstream(t)));
  const interval = 400;
  const t0 = performance.now();
  const checker = new ActiveHealthChecker(check({ interval: interval, timeout: 200 }), () => {}, SEED);
  t.after(() => checker.stop());
  checker.setMembers(servers.map((s, i) => ({ id: `m${i}`, address: "127.0.0.1", port: s.port })));
  await eventually("all probed once", () => (servers.every((s) => s.hits >= 1) ? true : undefined), 5000);
  const firsts = servers.map((s) => s.hitTimes[0] - t0);
  const spread = Math.max(...firsts) - Math.min(...firsts);
  assert.ok(spread > interval / 8, `first probes spread over ${Math.round(spread)}ms (seed=${SEED})`);
});

test("stop() leaves no timers and no sockets", async (t) => {
  const u = await upstream(t);
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const checker = new ActiveHealthChecker(check({ interval: 30, timeout: 30 }), () => {}, SEED);
  checker.setMembers([
    { id: "a", address: "127.0.0.1", port: u.port },
    { id: "b", address: "127.0.0.1", port: u.port },
  ]);
  await eventually(
    "keep-alive sockets open",
    () => (u.hits >= 4 && u.sockets.size > 0 ? true : undefined),
    5000,
  );
  checker.stop();
  await eventually("server sees every socket closed", () => (u.sockets.size === 0 ? true : undefined), 5000);
  const hits = u.hits;
  // A second checker at the same interval is the clock: once it has probed 4 times (at least
  // 3 intervals have passed), the stopped one would have probed again had it kept a timer.
  const control = await upstream(t);
  const clock = new ActiveHealthChecker(check({ interval: 30, timeout: 30 }), () => {}, SEED + 1);
  clock.setMembers([{ id: "c", address: "127.0.0.1", port: control.port }]);
  await eventually("the control checker probed 4 times", () => (control.hits >= 4 ? true : undefined), 5000);
  clock.stop();
  assert.equal(u.hits, hits, "no probe after stop()");
  const timersAfter = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  assert.ok(timersAfter <= timersBefore, `timers before ${timersBefore}, after ${timersAfter}`);
  assert.throws(() => checker.setMembers([]), { code: "HEALTH_CHECKER_STOPPED" });
});

test("each expectStatus range counts on its own: a status between two ranges fails the probe", async (t) => {
  const u = await upstream(t);
  u.status = 202;
  const rec = recorder();
  const checker = new ActiveHealthChecker(
    check({ interval: 100, timeout: 100, expectStatus: ["200", "204-205"], unhealthyThreshold: 1 }),
    rec.on,
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "gap", address: "127.0.0.1", port: u.port }]);
  await eventually("first probe decided", () => (rec.events.length > 0 ? true : undefined), 5000);
  // The ranges' hull (200-205) would have called 202 healthy.
  assert.deepEqual(rec.events[0], { id: "gap", healthy: false, reason: "status 202 outside 200, 204-205" });
  u.status = 205;
  await eventually(
    "205 is expected",
    () => (checker.state("gap")?.healthy === true ? true : undefined),
    5000,
  );
});

test("bad healthCheck sections stop at the schema, naming the field", () => {
  const paths = (healthCheck: object) => {
    const r = poolSchema.safeParse({ healthCheck });
    assert.equal(r.success, false, JSON.stringify(healthCheck));
    return r.error?.issues.map((i) => i.path.join("."));
  };
  assert.deepEqual(paths({ path: "health" }), ["healthCheck.path"]);
  assert.deepEqual(paths({ path: "/h", interval: 100, timeout: 200 }), ["healthCheck.timeout"]);
  assert.deepEqual(paths({ path: "/h", healthyThreshold: 0 }), ["healthCheck.healthyThreshold"]);
  assert.deepEqual(paths({ path: "/h", expectStatus: ["300-200"] }), ["healthCheck.expectStatus"]);
  assert.deepEqual(
    paths({ path: "/h", intervalMs: 100 }),
    ["healthCheck"],
    "the old renamed field is unknown",
  );
});
