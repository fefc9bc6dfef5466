// promtool's lint over the /metrics of real shardgate processes with every feature that adds
// metrics switched on at once: HTTP/2 (h2c) and HTTP/1.1 traffic, a Consul-discovered pool
// (the Consul double), a static pool with active health checks, a breaker and a dead member
// (connect errors, retries, health transitions), Redis-backed cache, rate limit and affinity,
// the Raft metrics of the one-member cluster a lone instance runs, and the same again under `workers: 2` (the
// primary's own metrics summed with the workers').
//
// Any finding fails. The earlier check (metrics-stream.test.ts) tolerated the gauges named
// *_total, and missed more for two reasons this test closes: promtool lints only families
// with a sample (a family that is declared but empty in a quiet process, such as
// shardgate_raft_proposals_refused_total, was never looked at), and its process had no
// workers, Consul, Redis or h2. Here an empty family gets one placeholder sample of its
// declared type, so its name and type are linted too.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { ConsulDouble } from "../support/consul-double.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { freePorts } from "../support/ports.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import {
  eventually,
  fetchJson,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SERVICE = "lint-svc";

interface Family {
  name: string;
  type: string;
  samples: number;
}

/** The families the exposition declares (# TYPE) and how many samples each has. */
export function families(text: string): Family[] {
  const out: Family[] = [];
  let cur: Family | undefined;
  for (const line of text.split("\n")) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m !== null) {
      cur = { name: m[1], type: m[2], samples: 0 };
      out.push(cur);
    } else if (cur !== undefined && line !== "" && !line.startsWith("#")) cur.samples++;
  }
  return out;
}

/** A sample line of `f`'s declared type that promtool accepts, for a family with none. */
function placeholder(f: Family): string {
  if (f.type === "histogram") return `${f.name}_bucket{le="+Inf"} 0\n${f.name}_sum 0\n${f.name}_count 0\n`;
  if (f.type === "summary") return `${f.name}_sum 0\n${f.name}_count 0\n`;
  return `${f.name} 0\n`;
}

/** The exposition with a placeholder sample in every empty family (so promtool lints it too). */
export function withPlaceholders(text: string): { text: string; filled: string[] } {
  const empty = families(text).filter((f) => f.samples === 0);
  let out = text;
  for (const f of empty) {
    const decl = `# TYPE ${f.name} ${f.type}\n`;
    out = out.replace(decl, `${decl}${placeholder(f)}`);
  }
  return { text: out, filled: empty.map((f) => f.name) };
}

/** promtool check metrics on `text`: its exit code and findings (one a line). */
async function promtool(text: string): Promise<{ code: number; findings: string[] }> {
  const child = execFile("promtool", ["check", "metrics"]);
  const done = new Promise<{ code: number; out: string }>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (c) => {
      out += c;
    });
    child.stderr?.on("data", (c) => {
      out += c;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
  child.stdin?.end(text);
  const r = await done;
  return { code: r.code, findings: r.out.split("\n").filter((l) => l.trim() !== "") };
}

function config(o: {
  users: readonly EchoUpstream[];
  deadPort: number;
  consul: string;
  redisUrl: string;
}): string {
  const members = o.users
    .map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`)
    .concat([`      - { id: dead, address: "127.0.0.1:${o.deadPort}" }`])
    .join("\n");
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
  http2: { enabled: true }
admin:
  token: "lint-token-0123456789"
log:
  level: info
  accessLog: false
discovery:
  consul: { address: "http://${o.consul}", wait: 5s }
redis: { url: "${o.redisUrl}", keyPrefix: "lint:" }
pools:
  users:
    algorithm: ring
    members:
${members}
    healthCheck: { path: /health, interval: 1s, timeout: 1s }
    breaker: { consecutiveFailures: 2, minRequests: 2, openFor: 5s }
    retry: { attempts: 2 }
  svc:
    algorithm: maglev
    discovery: { consul: { service: ${SERVICE} } }
routes:
  - match: { pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { maxBytes: 1kb }
  - match: { pathPrefix: /api }
    pool: users
    key: [header:x-user-id]
    affinity: { store: redis, ttl: 1m }
    rateLimit: { limit: 1000, window: 1s }
  - match: { pathPrefix: /svc }
    pool: svc
    key: [header:x-user-id]
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id, ip]
`;
}

describe("promtool check metrics over real processes, every feature on", { timeout: 300_000 }, () => {
  let users: EchoUpstream[] = [];
  let svc: EchoUpstream[] = [];
  let consul: ConsulDouble;
  let redis: RedisServer;

  before(async () => {
    users = await startUpstreams(3, "u");
    svc = await startUpstreams(2, "s");
    consul = await ConsulDouble.create({ seed: 8 });
    for (const s of svc) {
      const res = await fetch(`http://${consul.address}/v1/agent/service/register`, {
        method: "PUT",
        body: JSON.stringify({
          ID: s.id,
          Name: SERVICE,
          Address: "127.0.0.1",
          Port: s.port,
          Check: { CheckID: `c-${s.id}`, TTL: "1h", Status: "passing" },
        }),
      });
      assert.equal(res.status, 200, await res.text());
    }
    redis = await startRedis();
  });

  after(async () => {
    await stopAll();
    await stopAllRedis();
    await consul?.close();
    await closeAll([...users, ...svc]);
  });

  for (const mode of [
    { name: "one process", args: [] },
    { name: "workers: 2", args: ["--workers", "2"] },
  ]) {
    test(`${mode.name}: no finding, empty families included`, async (t) => {
      const [deadPort] = await freePorts(1);
      const sg: RunningShardgate = await startShardgate(
        config({ users, deadPort, consul: consul.address, redisUrl: redis.url }),
        { args: mode.args, timeoutMs: 90_000 },
      );
      t.after(() => sg.stop());
      // The Consul pool is committed once its members route.
      await eventually(
        "the Consul pool routes",
        async () => {
          const r = await fetchJson(`${sg.httpUrl}/svc/x`, { headers: { "x-user-id": "k" } });
          return r.status === 200 ? r : undefined;
        },
        60_000,
      );
      // HTTP/1.1 over every route (the dead member draws connect errors and retries until the
      // health check and the breaker take it out), then h2c.
      for (let i = 0; i < 40; i++) {
        const h = { "x-user-id": `user-${i}` };
        for (const path of [`/static/${i % 4}`, "/api/a", "/svc/b", "/c"]) {
          const r = await fetch(`${sg.httpUrl}${path}`, { headers: h });
          await r.arrayBuffer();
        }
      }
      const session = await h2Session(t, sg.httpUrl);
      for (let i = 0; i < 10; i++) {
        const r = await h2Request(session, { path: `/c/${i}`, headers: { "x-user-id": `h2-${i}` } });
        assert.ok(r.status > 0, "an h2c answer");
      }
      // The request counters are read from the workers (their registries summed by the primary
      // at each scrape): wait until they show this test's traffic.
      const text = await eventually(
        "a scrape that counts the requests and the cache lookups",
        async () => {
          const body = await (await fetch(`${sg.adminUrl}/metrics`)).text();
          const have = (n: string) => families(body).some((f) => f.name === n && f.samples > 0);
          return have("shardgate_requests_total") && have("shardgate_cache_requests_total")
            ? body
            : undefined;
        },
        30_000,
      );
      // The families this test exists for are present (else it would lint less than it says).
      const names = new Set(families(text).map((f) => f.name));
      const expected = [
        "shardgate_requests_total",
        "shardgate_breaker_state",
        "shardgate_raft_term",
        "shardgate_raft_proposals_refused_total",
        "shardgate_cluster_outcome_batches_total",
        "shardgate_cache_requests_total",
        "shardgate_affinity_total",
        "shardgate_rate_limit_decisions_total",
        "shardgate_nodejs_active_handles",
        ...(mode.args.length > 0 ? ["shardgate_workers", "shardgate_worker_restarts_total"] : []),
      ];
      for (const n of expected) assert.ok(names.has(n), `${mode.name}: /metrics declares ${n}`);

      const { text: linted, filled } = withPlaceholders(text);
      const r = await promtool(linted);
      assert.deepEqual(
        r.findings,
        [],
        `${mode.name}: promtool findings (placeholder samples in ${filled.join(", ") || "none"})`,
      );
      assert.equal(r.code, 0, `${mode.name}: promtool exit ${r.code}`);
    });
  }

  test("the placeholder makes promtool see an empty family", async () => {
    // The reason the *_total gauges went unseen: promtool skips a family without samples.
    const empty = "# HELP x_total A gauge.\n# TYPE x_total gauge\n";
    assert.deepEqual((await promtool(empty)).findings, [], "promtool alone says nothing");
    const r = await promtool(withPlaceholders(empty).text);
    assert.deepEqual(r.findings, ['x_total non-counter metrics should not have "_total" suffix']);
    assert.equal(r.code, 3);
  });
});
