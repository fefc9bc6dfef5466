// Admin API, metrics and access log of a real `shardgate start` process running the issue's
// minimal config (member addresses pointed at real echo upstreams on ephemeral ports).

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { randomKeys } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import {
  eventually,
  fetchJson,
  issueMinimalConfig,
  metricLines,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(20261125);
const TOKEN = "s3cret-token-0123456789";

interface StateBody {
  ringVersion: number;
  pools: Record<
    string,
    {
      algorithm: string;
      members: Array<{ id: string; address: string; weight: number; healthy: boolean; draining: boolean }>;
    }
  >;
}

interface RouteBody {
  pool: string;
  key: string;
  keyHash: number;
  owner: string | null;
  member: string | null;
  skipped: Array<{ id: string; reason: string }>;
  ringVersion: number;
}

describe("ops: admin API on the issue's minimal config", () => {
  let ups: EchoUpstream[] = [];
  let sg: RunningShardgate;
  const keys = randomKeys(SEED, 24, 12);
  const reached = new Map<string, string>();

  before(async () => {
    ups = await startUpstreams(3, "u");
    sg = await startShardgate(issueMinimalConfig([ups[0].port, ups[1].port, ups[2].port]), {
      env: { SHARDGATE_ADMIN_TOKEN: TOKEN },
    });
  });
  after(async () => {
    await sg?.stop();
    await closeAll(ups);
  });

  test("healthz and readyz answer 200 once the config is applied", async () => {
    const h = await fetchJson(`${sg.adminUrl}/healthz`);
    assert.equal(h.status, 200, h.text);
    assert.deepEqual(h.body, { status: "ok" });
    const r = await fetchJson(`${sg.adminUrl}/readyz`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ready: true });
  });

  test("/admin/state lists the pool, algorithm and members with weight, health and drain", async () => {
    const r = await fetchJson(`${sg.adminUrl}/admin/state`);
    assert.equal(r.status, 200, r.text);
    const s = r.body as StateBody;
    assert.equal(typeof s.ringVersion, "number");
    assert.deepEqual(Object.keys(s.pools), ["users"]);
    assert.equal(s.pools.users.algorithm, "ring");
    const members = s.pools.users.members.map((m) => ({ ...m }));
    assert.deepEqual(
      members.map(({ id, address, weight, healthy, draining }) => ({
        id,
        address,
        weight,
        healthy,
        draining,
      })),
      [
        { id: "u1", address: `127.0.0.1:${ups[0].port}`, weight: 1, healthy: true, draining: false },
        { id: "u2", address: `127.0.0.1:${ups[1].port}`, weight: 2, healthy: true, draining: false },
        { id: "u3", address: `127.0.0.1:${ups[2].port}`, weight: 1, healthy: true, draining: false },
      ],
    );
  });

  test("/admin/route names the member a real request with that key reached", async () => {
    for (const key of keys) {
      const res = await fetchJson(`${sg.httpUrl}/anything`, { headers: { "x-user-id": key } });
      assert.equal(res.status, 200, `${seedNote(SEED)} key ${key}: ${res.text}`);
      const served = (res.body as { member: string }).member;
      reached.set(key, served);
      const e = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(key)}`);
      assert.equal(e.status, 200, e.text);
      const body = e.body as RouteBody;
      assert.equal(
        body.member,
        served,
        `${seedNote(SEED)} key ${key}: explained ${e.text}, request reached ${served}`,
      );
      assert.equal(
        body.owner,
        served,
        `all members are healthy, so the owner serves (${seedNote(SEED)} key ${key})`,
      );
      assert.equal(body.pool, "users");
      assert.equal(body.key, key);
      assert.ok(Number.isInteger(body.keyHash) && body.keyHash >= 0, e.text);
      assert.deepEqual(body.skipped, []);
      assert.equal(typeof body.ringVersion, "number");
    }
    assert.ok(new Set(reached.values()).size >= 2, `24 keys should spread over members (${seedNote(SEED)})`);
  });

  test("/admin/route rejects missing and unknown parameters with JSON errors", async () => {
    const noPool = await fetchJson(`${sg.adminUrl}/admin/route?key=a`);
    assert.equal(noPool.status, 400, noPool.text);
    assert.equal((noPool.body as { error: string }).error, "missing_parameter");
    const noKey = await fetchJson(`${sg.adminUrl}/admin/route?pool=users`);
    assert.equal(noKey.status, 400, noKey.text);
    assert.equal((noKey.body as { error: string }).error, "missing_parameter");
    const unknown = await fetchJson(`${sg.adminUrl}/admin/route?pool=nope&key=a`);
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal((unknown.body as { error: string }).error, "unknown_pool");
    const path = await fetchJson(`${sg.adminUrl}/no/such/endpoint`);
    assert.equal(path.status, 404, path.text);
    assert.equal((path.body as { error: string }).error, "not_found");
  });

  test("/admin/routes explains many keys in one request, each as /admin/route does, in key order", async () => {
    assert.ok(reached.size === keys.length, "the /admin/route test recorded every key's member");
    const q = keys.map((k) => `&key=${encodeURIComponent(k)}`).join("");
    const r = await fetchJson(`${sg.adminUrl}/admin/routes?pool=users${q}`);
    assert.equal(r.status, 200, r.text);
    const body = r.body as { pool: string; routes: RouteBody[] };
    assert.equal(body.pool, "users");
    assert.equal(body.routes.length, keys.length, r.text);
    for (const [i, key] of keys.entries()) {
      const one = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(key)}`);
      assert.deepEqual(body.routes[i], one.body, `${seedNote(SEED)} key ${key}`);
      assert.equal(
        body.routes[i].member,
        reached.get(key),
        `${seedNote(SEED)} key ${key}: a real request's member`,
      );
    }
    const bad: Array<[string, number, string]> = [
      ["/admin/routes?key=a", 400, "missing_parameter"],
      ["/admin/routes?pool=users", 400, "missing_parameter"],
      ["/admin/routes?pool=nope&key=a", 404, "unknown_pool"],
      [`/admin/routes?pool=users${"&key=k".repeat(1001)}`, 400, "too_many_keys"],
    ];
    for (const [path, status, error] of bad) {
      const e = await fetchJson(`${sg.adminUrl}${path}`);
      assert.equal(e.status, status, `${path.slice(0, 60)}: ${e.text}`);
      assert.equal((e.body as { error: string }).error, error, e.text);
    }
  });

  test("mutating endpoints: wrong or missing token 401, right token 200; drain moves a key and undrain brings it back", async () => {
    const key = keys[0];
    const owner = reached.get(key) ?? assert.fail("previous test did not record a member");
    const drainUrl = `${sg.adminUrl}/admin/pools/users/members/${owner}/drain`;
    const missing = await fetchJson(drainUrl, { method: "POST" });
    assert.equal(missing.status, 401, missing.text);
    assert.equal((missing.body as { error: string }).error, "unauthorized");
    const wrong = await fetchJson(drainUrl, {
      method: "POST",
      headers: { authorization: "Bearer s3cret-tokeN" },
    });
    assert.equal(wrong.status, 401, wrong.text);
    const before = ((await fetchJson(`${sg.adminUrl}/admin/state`)).body as StateBody).ringVersion;

    const ok = await fetchJson(drainUrl, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(
      { ...(ok.body as object), ringVersion: 0 },
      { pool: "users", member: owner, draining: true, ringVersion: 0 },
    );
    const state = (await fetchJson(`${sg.adminUrl}/admin/state`)).body as StateBody;
    assert.ok(state.ringVersion > before, "a drain is an applied change: the version moves");
    assert.equal(state.pools.users.members.find((m) => m.id === owner)?.draining, true);
    const moved = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": key } });
    assert.equal(moved.status, 200, moved.text);
    const newMember = (moved.body as { member: string }).member;
    assert.notEqual(
      newMember,
      owner,
      `a draining member takes no new requests (${seedNote(SEED)} key ${key})`,
    );
    const e = (await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${key}`)).body as RouteBody;
    assert.equal(e.owner, owner);
    assert.equal(e.member, newMember);
    assert.deepEqual(e.skipped, [{ id: owner, reason: "draining" }]);

    const undrain = await fetchJson(`${sg.adminUrl}/admin/pools/users/members/${owner}/undrain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(undrain.status, 200, undrain.text);
    const back = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": key } });
    assert.equal((back.body as { member: string }).member, owner);

    const unknown = await fetchJson(`${sg.adminUrl}/admin/pools/users/members/zz/drain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal((unknown.body as { error: string }).error, "unknown_member");
    // Names an Object.prototype key, not a pool: a clear 404, not a 500 from a prototype lookup.
    for (const name of ["constructor", "__proto__"]) {
      const proto = await fetchJson(`${sg.adminUrl}/admin/pools/${name}/members/x/drain`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(proto.status, 404, proto.text);
      assert.equal((proto.body as { error: string }).error, "unknown_pool");
    }
    const get = await fetchJson(drainUrl);
    assert.equal(get.status, 405, "drain is POST only");
  });

  test("/metrics exposes the shardgate_ series by member id and never a raw key", async () => {
    const r = await fetch(`${sg.adminUrl}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /text\/plain/);
    const text = await r.text();
    const perMember = new Map<string, number>();
    for (const m of reached.values()) perMember.set(m, (perMember.get(m) ?? 0) + 1);
    for (const [member, n] of perMember) {
      const v = metricValue(text, "shardgate_requests_total", {
        route: "*/",
        pool: "users",
        member,
        code_class: "2xx",
      });
      assert.ok(
        v !== undefined && v >= n,
        `requests_total for ${member}: expected >= ${n}, got ${v}\n${metricLines(text, "shardgate_requests_total").join("\n")}`,
      );
    }
    assert.ok(
      (metricValue(text, "shardgate_request_duration_seconds_count", { pool: "users" }) ?? 0) >= keys.length,
    );
    assert.equal(
      metricValue(text, "shardgate_ring_points", { pool: "users" }),
      4 * 160,
      "weights 1+2+1 x 160 points",
    );
    assert.equal(metricValue(text, "shardgate_ring_member_points_min", { pool: "users" }), 160);
    assert.equal(metricValue(text, "shardgate_ring_member_points_max", { pool: "users" }), 320);
    for (const member of ["u1", "u2", "u3"]) {
      assert.equal(metricValue(text, "shardgate_member_healthy", { pool: "users", member }), 1, member);
    }
    assert.ok((metricValue(text, "shardgate_ring_version", {}) ?? 0) >= 1);
    // No request is open at scrape time, so the gauge may have no series: check it is registered.
    assert.match(text, /# TYPE shardgate_requests_in_flight gauge/);
    for (const name of [
      "shardgate_upstream_connect_errors_total",
      "shardgate_retries_total",
      "shardgate_health_transitions_total",
      "shardgate_config_reloads_total",
    ]) {
      assert.match(text, new RegExp(`# TYPE ${name} counter`), name);
    }
    for (const key of keys)
      assert.ok(!text.includes(key), `raw key ${key} leaked into /metrics (${seedNote(SEED)})`);
    for (const line of text.split("\n")) {
      if (line.startsWith("#") || line === "") continue;
      assert.match(line, /^shardgate_/, `every metric name starts with shardgate_: ${line}`);
    }
  });

  test("a malformed request at the listener is counted by code", async () => {
    const { hostname, port } = new URL(sg.httpUrl);
    await new Promise<void>((resolve, reject) => {
      const sock = connect(Number(port), hostname, () => sock.end("NOT HTTP AT ALL\r\n\r\n"));
      sock.on("error", reject);
      sock.on("close", () => resolve());
      sock.resume();
    });
    const text = await eventually("client error counted", async () => {
      const t = await (await fetch(`${sg.adminUrl}/metrics`)).text();
      return (metricValue(t, "shardgate_downstream_client_errors_total", { code: "bad_request" }) ?? 0) >= 1
        ? t
        : undefined;
    });
    assert.equal(metricValue(text, "shardgate_downstream_client_errors_total", { code: "bad_request" }), 1);
  });

  test("one access-log line per request with the key hash, never the raw key", async () => {
    const key = keys[1];
    const res = await fetchJson(`${sg.httpUrl}/orders?user=${key}`, {
      headers: { "x-user-id": key, "x-request-id": "trace-abc" },
    });
    assert.equal(res.status, 200, res.text);
    const line = await sg.proc.waitForLine(
      "access line for trace-abc",
      (l) => l.type === "access" && l.requestId === "trace-abc",
    );
    const e = (await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${key}`)).body as RouteBody;
    assert.equal(line.method, "GET");
    assert.equal(line.path, "/orders", "the query string (which may carry a key) is not logged");
    assert.equal(line.status, 200);
    assert.equal(line.pool, "users");
    assert.equal(line.member, (res.body as { member: string }).member);
    assert.equal(line.keyHash, e.keyHash);
    assert.equal(line.attempts, 1);
    assert.equal(typeof line.durationMs, "number");
    assert.equal(typeof line.ringVersion, "number");
    const all = sg.proc.lines.map((l) => JSON.stringify(l)).join("\n");
    for (const k of keys) assert.ok(!all.includes(k), `raw key ${k} appears in the log (${seedNote(SEED)})`);
    const accessLines = sg.proc.lines.filter((l) => l.type === "access").length;
    // 24 keyed requests, 2 around the drain, this one: each is exactly one line.
    assert.equal(accessLines, keys.length + 3, "one access line per proxied request");
  });
});

describe("ops: admin writes without a configured token", () => {
  let ups: EchoUpstream[] = [];
  let sg: RunningShardgate;
  before(async () => {
    ups = await startUpstreams(1, "a");
    sg = await startShardgate(poolConfig({ members: [{ id: "a1", port: ups[0].port }] }));
  });
  after(async () => {
    await sg?.stop();
    await closeAll(ups);
  });

  test("every mutating endpoint answers 403 admin_disabled, with or without a bearer header", async () => {
    for (const path of [
      "/admin/reload",
      "/admin/pools/users/members/a1/drain",
      "/admin/pools/users/members/a1/undrain",
      "/admin/pools/users/members/a1/breaker",
      "/admin/debug/cut",
      "/admin/debug/heal",
    ]) {
      const headerSets: Array<Record<string, string>> = [
        {},
        { authorization: "Bearer anything" },
        { authorization: "Bearer " },
      ];
      for (const headers of headerSets) {
        const r = await fetchJson(`${sg.adminUrl}${path}`, { method: "POST", headers });
        assert.equal(r.status, 403, `${path} ${JSON.stringify(headers)}: ${r.text}`);
        assert.equal((r.body as { error: string }).error, "admin_disabled");
      }
    }
    const state = (await fetchJson(`${sg.adminUrl}/admin/state`)).body as StateBody;
    assert.equal(state.pools.users.members[0].draining, false, "nothing was drained");
  });
});
