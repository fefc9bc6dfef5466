// Consul watcher tests against consulTarget(): a real agent when CONSUL_HTTP_ADDR is set,
// else the in-process double. Every watcher and server a test starts, it stops.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import type { z } from "zod";
import { formatHostPort } from "../../config/address.js";
import { consulAgentSchema, poolConsulSchema } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import {
  ConsulWatcher,
  type ConsulWatcherOptions,
  type MembershipUpdate,
} from "../../health/consul-watcher.js";
import type { WatchLoopOptions } from "../../health/watch-loop.js";
import { agentClient, uniqueName } from "../support/consul/agent-ops.js";
import { suiteConsul } from "../support/consul/suite-consul.js";
import { consulTarget, needControls } from "../support/consul/target.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventually, scaled } from "../support/wait.js";

const SEED = testSeed(7331);
const random = seededRandom(SEED);
const why = (s: string) => `${s} (seed=${SEED})`;

type Discovery = z.input<typeof poolConsulSchema>;
type Agent = z.input<typeof consulAgentSchema>;

/** A pool's discovery section and an agent section as a config file writes them, through the schema. */
function options(
  target: { host: string; port: number; token?: string },
  discovery: Discovery,
  agent: Agent = {},
  knobs: WatchLoopOptions = {},
): ConsulWatcherOptions {
  return {
    discovery: poolConsulSchema.parse(discovery),
    agent: consulAgentSchema.parse({
      address: `http://${formatHostPort(target.host, target.port)}`,
      token: target.token ?? "",
      ...agent,
    }),
    seed: SEED,
    ...knobs,
  };
}

function memoryLogger(): LogSink & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_o: object, msg: string) => {
    lines.push({ level, msg });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

describe("ConsulWatcher (double, or real agent via CONSUL_HTTP_ADDR)", () => {
  const watchers: ConsulWatcher[] = [];
  const suite = suiteConsul(SEED, async () => {
    for (const w of watchers) await w.stop();
  });

  function watch(discovery: Discovery, agent: Agent = {}, knobs: WatchLoopOptions = {}): ConsulWatcher {
    const w = new ConsulWatcher(
      options(
        suite.target,
        discovery,
        { wait: 5000, rateLimit: 50, ...agent },
        { rateBurst: 10, backoffBaseMs: 20, backoffMaxMs: 200, ...knobs },
      ),
    );
    watchers.push(w);
    w.start();
    return w;
  }

  const memberOf = (w: ConsulWatcher, id: string) => w.members().find((m) => m.id === id);

  test("register -> appears; critical -> unhealthy; passing -> healthy; deregister -> gone", async () => {
    const name = uniqueName("w-life", random);
    const w = watch({ service: name });
    const events: string[] = [];
    w.on("+member", (m) => events.push(`+${m.id}`));
    w.on("-member", (m) => events.push(`-${m.id}`));
    w.on("health", (m, h) => events.push(`${m.id}:${h ? "up" : "down"}`));
    await w.whenSynced();
    assert.equal(w.members().length, 0);
    const id = `${name}-1`;
    await suite.register({
      Name: name,
      ID: id,
      Port: 9001,
      Weights: { Passing: 3, Warning: 1 },
      Check: { TTL: "60s", Status: "passing" },
    });
    const m = await eventually("member appears", () => memberOf(w, id));
    assert.equal(m.port, 9001);
    assert.equal(m.weight, 3, "weight = Weights.Passing");
    assert.ok(m.address.length > 0, "empty Service.Address falls back to Node.Address");
    assert.equal(m.healthy, true);
    const consul = agentClient(suite.target);
    await consul.agent.check.fail({ id: `service:${id}`, note: "down for test" });
    await eventually("unhealthy", () => (memberOf(w, id)?.healthy === false ? true : undefined));
    await consul.agent.check.pass({ id: `service:${id}` });
    await eventually("healthy again", () => (memberOf(w, id)?.healthy === true ? true : undefined));
    await consul.agent.service.deregister(id);
    await eventually("gone", () => (memberOf(w, id) === undefined ? true : undefined));
    assert.deepEqual(events, [`+${id}`, `${id}:down`, `${id}:up`, `-${id}`], why("event order"));
    assert.equal(w.status().consecutiveErrors, 0);
    assert.ok(w.status().lastSuccessAt !== undefined);
  });

  test("warning counts as healthy only when configured; passingOnly makes every non-passing member unhealthy", async () => {
    const name = uniqueName("w-warn", random);
    await suite.register({
      Name: name,
      ID: `${name}-a`,
      Address: "10.0.0.1",
      Port: 1,
      Check: { TTL: "60s", Status: "warning" },
    });
    await suite.register({
      Name: name,
      ID: `${name}-b`,
      Address: "10.0.0.2",
      Port: 2,
      Check: { TTL: "60s", Status: "passing" },
    });
    const lenient = watch({ service: name, passingOnly: false, warningIsHealthy: true });
    const strict = watch({ service: name, passingOnly: false });
    // passingOnly is the schema's default.
    const passing = watch({ service: name, warningIsHealthy: true });
    await Promise.all([lenient.whenSynced(), strict.whenSynced(), passing.whenSynced()]);
    assert.equal(memberOf(lenient, `${name}-a`)?.healthy, true);
    assert.equal(memberOf(lenient, `${name}-a`)?.status, "warning");
    assert.equal(
      memberOf(lenient, `${name}-a`)?.address,
      "10.0.0.1",
      "Service.Address wins over Node.Address",
    );
    assert.equal(memberOf(strict, `${name}-a`)?.healthy, false);
    // Never ?passing: a member that stops passing stays a member (a health flip the panic
    // guard can hold back), it does not vanish as if it had been deregistered.
    assert.deepEqual(
      passing.members().map((m) => [m.id, m.healthy]),
      [
        [`${name}-a`, false],
        [`${name}-b`, true],
      ],
      "passingOnly wins over warningIsHealthy",
    );
  });

  test("tags and filter select members", async () => {
    const name = uniqueName("w-sel", random);
    await suite.register({
      Name: name,
      ID: `${name}-a`,
      Tags: ["primary"],
      Meta: { shard: "a" },
      Port: 1,
      Check: { TTL: "60s", Status: "passing" },
    });
    await suite.register({
      Name: name,
      ID: `${name}-b`,
      Tags: ["replica"],
      Meta: { shard: "b" },
      Port: 2,
      Check: { TTL: "60s", Status: "passing" },
    });
    const byTag = watch({ service: name, tags: ["primary"] });
    const byFilter = watch({ service: name, filter: 'Service.Meta.shard == "b"' });
    await Promise.all([byTag.whenSynced(), byFilter.whenSynced()]);
    assert.deepEqual(
      byTag.members().map((m) => m.id),
      [`${name}-a`],
    );
    assert.deepEqual(
      byFilter.members().map((m) => m.id),
      [`${name}-b`],
    );
  });

  test("the index going backwards resets to 0 and the watch keeps following changes", async (t) => {
    const d = needControls(t, suite.target, "a snapshot restore (index going backwards)");
    if (d === undefined) return;
    const name = uniqueName("w-back", random);
    await suite.register({ Name: name, ID: `${name}-a`, Port: 1, Check: { TTL: "60s", Status: "passing" } });
    const w = watch({ service: name });
    await w.whenSynced();
    const before = w.status().index;
    assert.ok(before > 2);
    await eventually("watch is blocked", () => (d.blockedQueries(name) > 0 ? true : undefined));
    d.restoreSnapshot(2);
    await eventually("index reset", () => (w.status().indexResets >= 1 ? true : undefined));
    await eventually("index re-learned", () =>
      w.status().index >= 2 && w.status().index < before ? true : undefined,
    );
    assert.ok(w.status().index >= 1, "never below 1 after an answer");
    await suite.register({ Name: name, ID: `${name}-b`, Port: 2, Check: { TTL: "60s", Status: "passing" } });
    await eventually("new member after the restore", () => memberOf(w, `${name}-b`));
  });

  test("the rate limit holds under churn", async (t) => {
    const name = uniqueName("w-churn", random);
    const id = `${name}-a`;
    await suite.register({ Name: name, ID: id, Port: 1, Check: { TTL: "60s", Status: "passing" } });
    const rate = 1;
    const burst = 1;
    const w = watch({ service: name }, { rateLimit: rate }, { rateBurst: burst });
    await w.whenSynced();
    const consul = agentClient(suite.target);
    const count = () => suite.target.controls?.healthRequestCount(name) ?? w.status().requests;
    const startCount = count();
    const allowedAfter = (ms: number) => burst + Math.ceil((rate * ms) / 1000) + 1;
    // Churn for windowMs, until it is at least twice what the limit allows and the watch has
    // sent twice: a loaded machine flips slower (5-18 flips in 1.5 s at load 40, against a
    // fixed "> 20" that failed) and answers later, so the loop runs longer instead of the
    // checks losing their point.
    const windowMs = 3000;
    const capMs = scaled(20_000);
    const started = performance.now();
    let flips = 0;
    for (;;) {
      const elapsed = performance.now() - started;
      if (flips >= 1000 || elapsed >= capMs) break;
      const enough = flips >= 2 * allowedAfter(elapsed) && count() - startCount >= 2;
      if (elapsed >= windowMs && enough) break;
      // Each update flips the status (passing <-> warning), since Consul syncs output-only
      // changes late (check_update_interval) and would not churn.
      const opts = { id: `service:${id}`, note: `flip ${flips}` };
      if (flips++ % 2 === 0) await consul.agent.check.warn(opts);
      else await consul.agent.check.pass(opts);
      await new Promise((r) => setTimeout(r, 3));
    }
    const elapsed = performance.now() - started;
    const sent = count() - startCount;
    const allowed = allowedAfter(elapsed);
    t.diagnostic(
      `churn: ${flips} status flips, ${sent} watch requests in ${Math.round(elapsed)}ms (allowed ${allowed})`,
    );
    assert.ok(
      flips >= 2 * allowed,
      `churn must outpace the limit twice over (flips=${flips}, allowed ${allowed} in ${Math.round(elapsed)}ms)`,
    );
    assert.ok(sent <= allowed, why(`sent ${sent} requests in ${Math.round(elapsed)}ms, allowed ${allowed}`));
    assert.ok(sent >= 2, why(`the watch kept running (sent ${sent})`));
  });

  test("a server that answers at once cannot make the loop spin", async (t) => {
    let hits = 0;
    const eager = http.createServer((_req, res) => {
      hits++;
      res.writeHead(200, { "Content-Type": "application/json", "X-Consul-Index": "1" });
      res.end("[]");
    });
    await new Promise<void>((r) => eager.listen(0, "127.0.0.1", () => r()));
    t.after(() => new Promise<void>((r) => eager.close(() => r())));
    const w = new ConsulWatcher(
      options(
        { host: "127.0.0.1", port: (eager.address() as AddressInfo).port },
        { service: "x" },
        { rateLimit: 10 },
        { rateBurst: 3 },
      ),
    );
    watchers.push(w);
    const t0 = performance.now();
    w.start();
    await new Promise((r) => setTimeout(r, 1000));
    await w.stop();
    // The bound follows the time that really passed: a loaded machine may wake us late.
    const secs = (performance.now() - t0) / 1000;
    assert.ok(hits >= 3, `the loop ran (hits=${hits})`);
    const bound = 3 + Math.ceil(10 * secs) + 2;
    assert.ok(hits <= bound, `hits=${hits} within burst + rate*${secs.toFixed(2)}s (${bound})`);
  });

  test("Consul stopped for a while: last state kept, errors counted and logged, then recovery", async (t) => {
    const d = needControls(t, suite.target, "stop()/start()");
    if (d === undefined) return;
    const name = uniqueName("w-down", random);
    await suite.register({ Name: name, ID: `${name}-a`, Port: 1, Check: { TTL: "60s", Status: "passing" } });
    const log = memoryLogger();
    const w = watch({ service: name }, {}, { logger: log });
    await w.whenSynced();
    const updates: MembershipUpdate[] = [];
    w.on("update", (u) => updates.push(u));
    await d.stop();
    await eventually("errors counted", () => (w.status().consecutiveErrors >= 3 ? true : undefined), 5000);
    const s = w.status();
    assert.match(s.lastError ?? "", /ECONNREFUSED|socket hang up|ECONNRESET/);
    assert.deepEqual(
      w.members().map((m) => m.id),
      [`${name}-a`],
      "last state kept",
    );
    assert.equal(updates.length, 0, "no membership change while Consul is away");
    assert.equal(log.lines.filter((l) => l.level === "warn").length, 1, "one warning per failure streak");
    const successBefore = s.lastSuccessAt as number;
    await d.start();
    await eventually("recovered", () => (w.status().consecutiveErrors === 0 ? true : undefined), 5000);
    assert.ok((w.status().lastSuccessAt as number) >= successBefore);
    assert.ok(log.lines.some((l) => l.level === "info" && /recovered/.test(l.msg)));
    await suite.register({ Name: name, ID: `${name}-b`, Port: 2, Check: { TTL: "60s", Status: "passing" } });
    await eventually("follows changes after recovery", () => memberOf(w, `${name}-b`));
  });

  test("stop() aborts the in-flight blocking request promptly", async () => {
    const name = uniqueName("w-stop", random);
    const w = watch({ service: name }, { wait: "60s" });
    await w.whenSynced();
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await w.stop();
    const took = performance.now() - t0;
    assert.ok(took < 5000, `stop took ${Math.round(took)}ms with a 60s wait in flight`);
    assert.equal(w.status().running, false);
  });

  test("the ACL token is sent; a wrong one is an error, not a crash", async (t) => {
    const guarded = await consulTarget({ seed: SEED, aclToken: "tok-123" });
    t.after(() => guarded.close());
    if (guarded.controls === undefined) {
      t.skip("needs a double with an enforced token");
      return;
    }
    const good = new ConsulWatcher(options(guarded, { service: "s" }, { token: "tok-123" }));
    const bad = new ConsulWatcher(
      options(guarded, { service: "s" }, { token: "nope" }, { backoffBaseMs: 10, backoffMaxMs: 50 }),
    );
    watchers.push(good, bad);
    good.start();
    bad.start();
    await good.whenSynced();
    await eventually("bad token errors", () => (bad.status().consecutiveErrors >= 1 ? true : undefined));
    assert.match(bad.status().lastError ?? "", /ACL not found|forbidden/i);
    assert.equal(bad.status().synced, false);
    await good.stop();
    await bad.stop();
  });

  test("an unknown datacenter is an error the watcher reports and backs off from", async () => {
    const w = watch({ service: uniqueName("w-dc", random), datacenter: "no-such-dc-9" });
    await eventually("dc error", () => (w.status().consecutiveErrors >= 2 ? true : undefined));
    assert.match(w.status().lastError ?? "", /No path to datacenter/i);
    assert.equal(w.status().synced, false);
    await w.stop();
  });

  test("the pool's datacenter wins over the agent's; the agent's is the fallback", async () => {
    const name = uniqueName("w-dc2", random);
    const pool = watch({ service: name, datacenter: "no-such-dc-9" }, { datacenter: "dc1" });
    const agent = watch({ service: name }, { datacenter: "no-such-dc-9" });
    await eventually("both ask the missing dc", () =>
      pool.status().consecutiveErrors >= 1 && agent.status().consecutiveErrors >= 1 ? true : undefined,
    );
    assert.match(pool.status().lastError ?? "", /No path to datacenter/i);
    await pool.stop();
    await agent.stop();
  });

  test("bad sections stop at the schema, naming the field; bad pacing knobs are coded errors", () => {
    const issues = (schema: typeof poolConsulSchema | typeof consulAgentSchema, v: object) => {
      const r = schema.safeParse(v);
      assert.equal(r.success, false, JSON.stringify(v));
      return r.error?.issues.map((i) => i.path.join("."));
    };
    assert.deepEqual(issues(poolConsulSchema, { service: "" }), ["service"]);
    assert.deepEqual(issues(poolConsulSchema, { service: "a", tags: [""] }), ["tags.0"]);
    assert.deepEqual(issues(consulAgentSchema, { address: "ftp://x" }), ["address"]);
    assert.deepEqual(issues(consulAgentSchema, { wait: -1 }), ["wait"]);
    assert.deepEqual(issues(consulAgentSchema, { waitMs: 5 }), [""], "the old renamed field is unknown");
    assert.throws(
      () => new ConsulWatcher(options(suite.target, { service: "a" }, {}, { backoffBaseMs: 0 })),
      { code: "HEALTH_INVALID_WATCHER_OPTIONS" },
    );
  });
});

describe("ConsulWatcher against hand-made servers (streaming, TLS)", () => {
  const entryText = (id: string, status: string) =>
    JSON.stringify({
      Node: { Node: "n1", Address: "127.0.0.1" },
      Service: { ID: id, Service: "s", Port: 80, Tags: [], Meta: {} },
      Checks: [{ CheckID: `c-${id}`, Status: status }],
    });

  test("an update's ageMs is the time since its answer's head arrived (the body's reading included)", async (t) => {
    // Answer 1: one member, at once. Answer 2 (the blocking query's): the head and half of the
    // body at once, the rest SLOW_MS later, with the member critical.
    // The head is noticed a scheduling delay after it was written, so on a loaded machine the
    // measured age can fall short of SLOW_MS by that much: half of it is the bound.
    const SLOW_MS = 300;
    let n = 0;
    let headAt = 0;
    const server = http.createServer((_req, res) => {
      n++;
      if (n > 2) return; // later blocking queries wait until the watcher stops
      const text = Buffer.from(`[${entryText("a1", n === 1 ? "passing" : "critical")}]`);
      res.writeHead(200, {
        "Content-Type": "application/json",
        "Content-Length": String(text.length),
        "X-Consul-Index": String(10 + n),
      });
      if (n === 1) {
        res.end(text);
        return;
      }
      headAt = performance.now();
      res.write(text.subarray(0, text.length >> 1));
      setTimeout(() => res.end(text.subarray(text.length >> 1)), SLOW_MS);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    t.after(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const w = new ConsulWatcher(
      options({ host: "127.0.0.1", port: (server.address() as AddressInfo).port }, { service: "s" }),
    );
    t.after(() => w.stop());
    const updates: { ageMs: number | undefined; at: number }[] = [];
    w.on("update", (u) => updates.push({ ageMs: u.ageMs, at: performance.now() }));
    w.start();
    await eventually("the slow answer is applied", () => (updates.length >= 2 ? true : undefined), 10_000);
    const first = updates[0].ageMs as number;
    const slow = updates[1];
    assert.ok(first >= 0 && first < SLOW_MS, `an answer read at once is young (ageMs=${first})`);
    assert.ok(
      (slow.ageMs as number) >= SLOW_MS / 2,
      `ageMs=${slow.ageMs} counts the ${SLOW_MS} ms the body took to arrive`,
    );
    // Never older than the head itself: it counts from the arrival, not from the request.
    assert.ok(
      (slow.ageMs as number) <= slow.at - headAt + 1,
      `ageMs=${slow.ageMs} within ${slow.at - headAt} ms`,
    );
  });

  test("an answer cut off mid-body is an error; the last view stays; the next answer is decoded in full", async (t) => {
    // Answer 1: 200 entries, written in small pieces. Answer 2: the same headers, half of a
    // body, then the connection closes. Answer 3: one member critical.
    const ids = Array.from({ length: 200 }, (_, i) => `m${String(i).padStart(3, "0")}`);
    const body = (critical: string) =>
      `[${ids.map((id) => entryText(id, id === critical ? "critical" : "passing")).join(",")}]`;
    let n = 0;
    const server = http.createServer((_req, res) => {
      n++;
      const text = Buffer.from(body(n >= 3 ? "m007" : ""));
      res.writeHead(200, {
        "Content-Type": "application/json",
        "Content-Length": String(text.length),
        "X-Consul-Index": String(10 + n),
      });
      if (n === 2) {
        res.write(text.subarray(0, text.length >> 1));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      for (let i = 0; i < text.length; i += 777) res.write(text.subarray(i, i + 777));
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const w = new ConsulWatcher(
      options(
        { host: "127.0.0.1", port: (server.address() as AddressInfo).port },
        { service: "s" },
        { rateLimit: 50 },
        { rateBurst: 10, backoffBaseMs: 20, backoffMaxMs: 50 },
      ),
    );
    t.after(() => w.stop());
    const errors: string[] = [];
    w.start();
    await w.whenSynced();
    assert.equal(w.members().length, 200);
    const first = new Map(w.members().map((m) => [m.id, m]));
    await eventually("the cut answer is an error", () => {
      if (w.status().lastError !== undefined) errors.push(w.status().lastError as string);
      return w.status().lastError;
    });
    await eventually("the third answer is applied", () =>
      w.members().find((m) => m.id === "m007")?.healthy === false ? true : undefined,
    );
    assert.equal(w.members().length, 200, why("every member is still there"));
    for (const m of w.members()) {
      if (m.id !== "m007")
        assert.equal(m, first.get(m.id), why(`${m.id} kept its object through the failure`));
    }
    assert.ok(errors.length > 0);
    // Noticed when the connection closed, not at the request timeout (~42 s here).
    assert.match(errors[0] as string, /cut off after \d+ body bytes/);
    assert.ok(w.status().indexResets === 0);
  });

  test("the query goes through the consul client (papi), with every parameter; a non-2xx body is the message", async (t) => {
    // The consul package is the mandated Consul client: papi, its HTTP layer, names itself in
    // User-Agent. Answer 1: one entry. Answer 2: a 500 with a long text body (only its start
    // is kept). Answer 3 onwards: the same entry again.
    const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? "", headers: req.headers });
      if (seen.length === 2) {
        res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
        res.end(`rpc error making call: Permission denied ${"x".repeat(5000)}`);
        return;
      }
      res.writeHead(200, { "Content-Type": "application/json", "X-Consul-Index": String(40 + seen.length) });
      res.end(`[${entryText("p1", "passing")}]`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const w = new ConsulWatcher(
      options(
        { host: "127.0.0.1", port: (server.address() as AddressInfo).port, token: "tok-p" },
        { service: "svc/a b", tags: ["t1", "t 2"], filter: 'Service.Meta.zone == "a"', datacenter: "dc9" },
        { rateLimit: 50, wait: "7s" },
        { rateBurst: 10, backoffBaseMs: 20, backoffMaxMs: 50 },
      ),
    );
    t.after(() => w.stop());
    w.start();
    await w.whenSynced();
    await eventually("the 500 is an error", () => w.status().lastError);
    const err = w.status().lastError ?? "";
    assert.match(
      err,
      /HTTP 500 from \/v1\/health\/service\/svc%2Fa%20b: rpc error making call: Permission denied x+/,
    );
    assert.ok(err.length < 400, `the error text is bounded (${err.length} chars)`);
    await eventually("recovered", () =>
      w.status().consecutiveErrors === 0 && seen.length >= 3 ? true : undefined,
    );
    await w.stop();
    const first = seen[0] as (typeof seen)[number];
    assert.match(String(first.headers["user-agent"]), /^papi\/\d/, "papi made the request");
    assert.equal(first.headers["x-consul-token"], "tok-p");
    const url = new URL(first.url, "http://x");
    assert.equal(url.pathname, "/v1/health/service/svc%2Fa%20b");
    assert.equal(url.searchParams.get("index"), "0");
    assert.equal(url.searchParams.get("wait"), "7000ms");
    assert.equal(url.searchParams.get("dc"), "dc9");
    assert.deepEqual(url.searchParams.getAll("tag"), ["t1", "t 2"]);
    assert.equal(url.searchParams.get("filter"), 'Service.Meta.zone == "a"');
    assert.equal(
      new URL(seen[1]?.url ?? "", "http://x").searchParams.get("index"),
      "41",
      "blocks on the index",
    );
    assert.equal(
      new URL(seen[2]?.url ?? "", "http://x").searchParams.get("index"),
      "0",
      "after an error: at once",
    );
  });

  test("an https agent address speaks TLS and verifies the certificate", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "consul-tls-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    makeCa(dir);
    issueCert(dir, "agent", "127.0.0.1", "IP:127.0.0.1");
    const server = https.createServer(
      { key: readFileSync(join(dir, "agent.key")), cert: readFileSync(join(dir, "agent.pem")) },
      (req, res) => {
        const token = req.headers["x-consul-token"];
        res.writeHead(token === "tls-token" ? 200 : 403, {
          "Content-Type": "application/json",
          "X-Consul-Index": "3",
        });
        res.end(token === "tls-token" ? `[${entryText("tls-a", "passing")}]` : "ACL not found");
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    // Untrusted here: the certificate is refused, as an error the status shows.
    const w = new ConsulWatcher({
      ...options(
        { host: "127.0.0.1", port },
        { service: "s" },
        { token: "tls-token" },
        { backoffBaseMs: 20, backoffMaxMs: 50 },
      ),
      agent: consulAgentSchema.parse({ address: `https://127.0.0.1:${port}`, token: "tls-token" }),
    });
    t.after(() => w.stop());
    w.start();
    await eventually("TLS refused", () => w.status().lastError);
    assert.match(w.status().lastError ?? "", /certificate/i);
    assert.equal(w.status().synced, false);
    // Trusted through Node's own mechanism (NODE_EXTRA_CA_CERTS), in a child: it syncs.
    const script = [
      `import { ConsulWatcher } from ${JSON.stringify(pathToFileURL(join(process.cwd(), "dist/health/consul-watcher.js")).href)};`,
      `import { consulAgentSchema, poolConsulSchema } from ${JSON.stringify(pathToFileURL(join(process.cwd(), "dist/config/file/schema.js")).href)};`,
      `const w = new ConsulWatcher({ discovery: poolConsulSchema.parse({ service: "s" }),`,
      `  agent: consulAgentSchema.parse({ address: "https://127.0.0.1:${port}", token: "tls-token" }) });`,
      `w.start(); await w.whenSynced(); console.log(JSON.stringify(w.members().map((m) => m.id))); await w.stop();`,
    ].join("\n");
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        ["--input-type=module", "-e", script],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, "ca.pem") }, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
      child.stdin?.end();
    });
    assert.deepEqual(JSON.parse(out), ["tls-a"]);
  });
});
