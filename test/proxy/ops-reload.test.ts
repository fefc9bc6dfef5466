// Config reload in a real shardgate process, via POST /admin/reload and via SIGHUP, with valid
// and invalid files, while a bounded load runs: no request may fail, an invalid file must leave
// the old config serving, and a removed member's (or route's) metric series must vanish.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { randomKeys } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import {
  eventually,
  fetchJson,
  metricLines,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(4242);
const TOKEN = "reload-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };

interface StateBody {
  ringVersion: number;
  pools: Record<string, { members: Array<{ id: string }> }>;
}

/** Keeps `concurrency` request loops running until stop() (or a hard cap), recording every outcome. */
class BoundedLoad {
  ok = 0;
  failures: string[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(url: string, keys: readonly string[], concurrency: number, maxRequests: number, maxMs: number) {
    const deadline = Date.now() + maxMs;
    let n = 0;
    for (let c = 0; c < concurrency; c++) {
      this.loops.push(
        (async () => {
          while (!this.stopped && n < maxRequests && Date.now() < deadline) {
            const key = keys[n++ % keys.length];
            try {
              const r = await fetch(url, { headers: { "x-user-id": key } });
              const text = await r.text();
              if (r.status === 200) this.ok++;
              else this.failures.push(`${r.status} ${text}`);
            } catch (err) {
              this.failures.push(String(err));
            }
          }
        })(),
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

describe("ops: config reload", () => {
  let ups: EchoUpstream[] = [];
  let sg: RunningShardgate;
  const keys = randomKeys(SEED, 64, 10);
  const three = () => poolConfig({ token: TOKEN, members: ups.map((u) => ({ id: u.id, port: u.port })) });
  const two = () =>
    poolConfig({ token: TOKEN, members: ups.slice(0, 2).map((u) => ({ id: u.id, port: u.port })) });
  // Three independent mistakes: every one must be reported, and nothing applied.
  const invalid = () =>
    three()
      .replace(
        `id: r2, address: "127.0.0.1:${ups[1]?.port}"`,
        `id: r2, address: "127.0.0.1:${ups[1]?.port}", weight: 0`,
      )
      .replace("algorithm: ring", "algorithm: rong")
      .replace("level: info", "level: loud");

  before(async () => {
    ups = await startUpstreams(3, "r");
    sg = await startShardgate(three());
  });
  after(async () => {
    await sg?.stop();
    await closeAll(ups);
  });

  async function state(): Promise<StateBody> {
    return (await fetchJson(`${sg.adminUrl}/admin/state`)).body as StateBody;
  }
  async function metrics(): Promise<string> {
    return (await fetch(`${sg.adminUrl}/metrics`)).text();
  }

  test("valid and invalid reloads via POST and SIGHUP under load drop no request", async () => {
    // Reach every member first so each has request series to lose later.
    for (const k of keys)
      assert.equal((await fetch(`${sg.httpUrl}/`, { headers: { "x-user-id": k } })).status, 200);
    const m0 = await metrics();
    for (const id of ["r1", "r2", "r3"]) {
      assert.ok(m0.includes(`member="${id}"`), `${id} has series before the reload (${seedNote(SEED)})`);
    }

    const load = new BoundedLoad(`${sg.httpUrl}/`, keys, 4, 4000, 30_000);
    try {
      // 1. POST with a valid file that removes r3.
      const v0 = (await state()).ringVersion;
      sg.config.write(two());
      const r1 = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
      assert.equal(r1.status, 200, r1.text);
      assert.deepEqual(r1.body, { reloaded: true, ringVersion: v0 + 1, restartRequired: [] });
      const s1 = await state();
      assert.deepEqual(
        s1.pools.users.members.map((m) => m.id),
        ["r1", "r2"],
      );
      // A request the load sent to r3 before the swap may still be in flight (its in-flight
      // series lives until it ends): the series vanish once the last one has finished.
      let r3Lines = "";
      const m1 = await eventually(
        "r3's series to vanish after it left",
        async () => {
          const m = await metrics();
          r3Lines = m
            .split("\n")
            .filter((l) => l.includes(`member="r3"`))
            .join("\n");
          return r3Lines === "" ? m : undefined;
        },
        10_000,
      ).catch((err: unknown) => assert.fail(`${String(err)}\n${r3Lines}`));
      assert.ok(m1.includes(`member="r1"`));

      // 2. POST with an invalid file: 400 with every error, old config keeps serving.
      sg.config.write(invalid());
      const r2 = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
      assert.equal(r2.status, 400, r2.text);
      const body = r2.body as { error: string; detail: { errors: Array<{ path: string; message: string }> } };
      assert.equal(body.error, "invalid_config");
      const paths = body.detail.errors.map((e) => e.path).sort();
      assert.deepEqual(
        paths,
        ["log.level", "pools.users.algorithm", "pools.users.members[1].weight"],
        r2.text,
      );
      assert.equal((await state()).ringVersion, v0 + 1, "an invalid file changes nothing");
      const rejected = await sg.proc.waitForLine(
        "reload rejected log",
        (l) => l.msg?.startsWith("config reload rejected") === true && l.trigger === "admin",
      );
      assert.equal((rejected.errors as unknown[]).length, 3);

      // 3. SIGHUP with a valid file that adds r3 back.
      sg.config.write(three());
      const from = sg.proc.lines.length;
      sg.proc.signal("SIGHUP");
      await sg.proc.waitForLine(
        "SIGHUP reload applied",
        (l) => l.msg === "config reloaded" && l.trigger === "SIGHUP",
        10_000,
        from,
      );
      assert.deepEqual(
        (await state()).pools.users.members.map((m) => m.id),
        ["r1", "r2", "r3"],
      );

      // 4. SIGHUP with an invalid file: logged, old config keeps serving.
      sg.config.write(invalid());
      const from2 = sg.proc.lines.length;
      sg.proc.signal("SIGHUP");
      const bad = await sg.proc.waitForLine(
        "SIGHUP reload rejected",
        (l) => l.msg?.startsWith("config reload rejected") === true && l.trigger === "SIGHUP",
        10_000,
        from2,
      );
      assert.match(String(bad.msg), /pools\.users\.algorithm/);
      assert.equal((await state()).pools.users.members.length, 3);

      // 5. A listener change is reported as needing a restart (and the running listener stays).
      sg.config.write(three().replace("http: 127.0.0.1:0", "http: 127.0.0.1:1"));
      const r5 = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
      assert.equal(r5.status, 200, r5.text);
      assert.deepEqual((r5.body as { restartRequired: string[] }).restartRequired, ["listen"]);
      // The admin listener's limits are read when it starts: named, not silently ignored (the
      // listener change above is the running config now).
      sg.config.write(
        three()
          .replace("http: 127.0.0.1:0", "http: 127.0.0.1:1")
          .replace("admin:\n", "admin:\n  maxConnections: 9\n"),
      );
      const r6 = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
      assert.equal(r6.status, 200, r6.text);
      assert.deepEqual((r6.body as { restartRequired: string[] }).restartRequired, ["admin.maxConnections"]);
      // The memory budget (limits) is read at start too: named, not silently ignored.
      sg.config.write(
        three()
          .replace("http: 127.0.0.1:0", "http: 127.0.0.1:1")
          .replace("admin:\n", "admin:\n  maxConnections: 9\n")
          .replace("pools:\n", "limits:\n  memory: 512mb\npools:\n"),
      );
      const r7 = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
      assert.equal(r7.status, 200, r7.text);
      assert.deepEqual((r7.body as { restartRequired: string[] }).restartRequired, ["limits"]);
      // Tracing starts once (and with workers, each worker runs the primary's start config):
      // a change said "config reloaded" and nothing, while no span changed until a restart.
      sg.config.write(
        three()
          .replace("http: 127.0.0.1:0", "http: 127.0.0.1:1")
          .replace("admin:\n", "admin:\n  maxConnections: 9\n")
          .replace("pools:\n", "limits:\n  memory: 512mb\ntracing:\n  sampleRatio: 0.5\npools:\n"),
      );
      const r8 = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
      assert.equal(r8.status, 200, r8.text);
      assert.deepEqual((r8.body as { restartRequired: string[] }).restartRequired, ["tracing"]);

      // Let the load run across the last swap for a moment.
      await eventually(
        "some requests after the last reload",
        async () => (load.ok > 50 ? true : undefined),
        10_000,
      );
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures, [], `requests failed during reloads (${seedNote(SEED)})`);
    assert.ok(load.ok > 50, `the load ran (${load.ok} requests)`);
    const m = await metrics();
    assert.deepEqual(metricLines(m, "shardgate_config_reloads_total").sort(), [
      'shardgate_config_reloads_total{result="failure"} 2',
      'shardgate_config_reloads_total{result="success"} 6',
    ]);
  });
});

describe("ops: a reload that replaces a route", () => {
  let ups: EchoUpstream[] = [];
  let sg: RunningShardgate | undefined;
  after(async () => {
    await sg?.stop();
    await closeAll(ups);
  });

  test("the old route's request series vanish, the new route's appear", async () => {
    ups = await startUpstreams(1, "q");
    const yaml = poolConfig({ token: TOKEN, members: [{ id: "q1", port: ups[0].port }] });
    sg = await startShardgate(yaml);
    const get = async (path: string) =>
      (await fetch(`${sg?.httpUrl}${path}`, { headers: { "x-user-id": "k" } })).status;
    const requestLines = async () =>
      metricLines(await (await fetch(`${sg?.adminUrl}/metrics`)).text(), "shardgate_requests_total");
    assert.equal(await get("/a"), 200);
    assert.ok(
      (await requestLines()).some((l) => l.includes('route="*/"')),
      "the first route has series",
    );

    sg.config.write(yaml.replace("pathPrefix: /", "pathPrefix: /v2"));
    const r = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
    assert.equal(r.status, 200, r.text);
    assert.equal(await get("/v2/a"), 200);
    const lines = await requestLines();
    assert.deepEqual(
      lines.filter((l) => l.includes('route="*/"')),
      [],
      `the replaced route's series are gone:\n${lines.join("\n")}`,
    );
    assert.ok(
      lines.some((l) => l.includes('route="*/v2"')),
      `the new route is counted:\n${lines.join("\n")}`,
    );
  });
});
