// Tried from the outside: the dependencies' own clients (the Consul agent, the Kubernetes API
// server, the OTLP collector, Redis Sentinel and Cluster) named by a hostname whose DNS hangs.
// Found: each of these clients resolved through getaddrinfo on libuv's thread pool, not through
// the bounded lookup the upstream path uses (proxy/net/bounded-lookup.ts). With a resolver that
// never answers, every attempt held a thread for the resolver's whole timeout (150 s here):
// the Consul watch failed only at its own request timeout (wait + 10 s) with "request timed
// out" and kept failing for 150 s after DNS answered again, and SIGTERM never ended the
// process (the exit joins the hung threads). Nothing in shardgate_dns_* moved, and discovery
// failures were counted nowhere. Now the Consul client (an http.Agent with `lookup`), the
// Kubernetes client (its agents, createAgent), the OTLP exporter (httpAgentOptions.lookup)
// and ioredis's Sentinel and Cluster connectors all resolve through the bounded lookup: the
// failure names the DNS lookup within seconds, is counted (shardgate_dns_timeouts_total,
// shardgate_discovery_errors_total, shardgate_tracing_spans_total{result="failed"}), the
// proxy serves, a Raft write and a SIGHUP reload go through, recovery follows when DNS
// answers, and SIGTERM exits 0.
// Real shardgate processes in a mount namespace of their own whose resolv.conf names a DNS
// double on 127.x.y.z:53 (test/support/dns-double.ts); the doubles listen on 127.0.0.1.
// Each case waits mostly on timers (the lookup's bound, the clients' retries), so they run side
// by side: every case has its own hostname, and the shared DNS double hangs on every name until
// the case that owns it says it answers.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConsulDouble } from "../support/consul-double.js";
import { adminPost, sighupReloaded } from "../support/dns-admin.js";
import type { DnsDouble } from "../support/dns-double.js";
import { dnsFixture, type NamespacedShardgate, sigtermExit } from "../support/dns-process.js";
import { SHORT_DNS_BOUNDS_ENV } from "../support/dns-short-bounds.js";
import { kubeServingApp } from "../support/kube-app-double.js";
import { writeKubeconfigFor } from "../support/kube-config-file.js";
import { metricValue } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const fx = dnsFixture(20_261_208, "shardgate-dns-deps-");
const { seed, dir } = fx;
const TOKEN = "dns-dependencies-test-token";
const closers: Array<() => Promise<unknown>> = [];

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
});

/** The names a case has let the double answer; every other name hangs. */
const answering = new Set<string>();

/** The DNS double (silent but for the names in `answering`) and one echo upstream, shared by the tests. */
async function setUp(): Promise<{ dns: DnsDouble; port: number }> {
  const { dns, port } = await fx.prepare("silent");
  dns.answerIp = "127.0.0.1";
  dns.rule = (name) => (answering.has(name) ? "answer" : undefined);
  return { dns, port };
}

/** A shardgate with `extra` config (pools, routes, sections) next to an IP-only pool `ip`. */
function start(name: string, port: number, extra: string): Promise<NamespacedShardgate> {
  return fx.start(
    name,
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "${TOKEN}" }
log: { level: info, accessLog: false }
${extra.replace("POOLS", `  ip:\n    members:\n      - { id: i1, address: "127.0.0.1:${port}" }`)}`,
    // One try of 30 s (glibc's cap), 5 times: a hung getaddrinfo holds its thread 150 s.
    { timeoutS: 30, attempts: 5 },
    false,
    SHORT_DNS_BOUNDS_ENV,
  );
}

function logLine(sg: NamespacedShardgate, what: string, pred: (l: Record<string, unknown>) => boolean) {
  return eventually(what, () => sg.lines.find(pred), 60_000, 100).catch((err: unknown) =>
    assert.fail(`${String(err)}\n${sg.output()}`),
  );
}

function msgStarts(prefix: string): (l: Record<string, unknown>) => boolean {
  return (l) => typeof l.msg === "string" && l.msg.startsWith(prefix);
}

async function status(url: string, key: string): Promise<number> {
  const res = await fetch(url, { headers: { "x-k": key }, signal: AbortSignal.timeout(scaled(10_000)) });
  await res.arrayBuffer();
  return res.status;
}

async function metrics(sg: NamespacedShardgate): Promise<string> {
  const res = await fetch(`${sg.admin}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(scaled(10_000)),
  });
  return res.text();
}

/** A counter sample read from /metrics once it is above 0 (the name must be exported either way). */
function metricAbove0(sg: NamespacedShardgate, name: string, labels: Record<string, string> = {}) {
  return eventually(
    `${name}${JSON.stringify(labels)} > 0`,
    async () => {
      const v = metricValue(await metrics(sg), name, labels);
      return v !== undefined && v > 0 ? v : undefined;
    },
    30_000,
    200,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
}

/** While DNS hangs: the IP pool serves, a Raft write (a drain) commits and a SIGHUP reload applies. */
async function keepsServing(sg: NamespacedShardgate): Promise<void> {
  for (let i = 0; i < 5; i++) assert.equal(await status(`${sg.http}/ip/${i}`, `ip${i}`), 200, sg.output());
  const drain = await adminPost(sg, "/admin/pools/ip/members/i1/drain", TOKEN);
  assert.equal(drain, 200, `drain while DNS hangs\n${sg.output()}`);
  const undrain = await adminPost(sg, "/admin/pools/ip/members/i1/undrain", TOKEN);
  assert.equal(undrain, 200, `undrain while DNS hangs\n${sg.output()}`);
  await sighupReloaded(sg);
}

/** The bounded lookup's own error text: "DNS lookup of NAME ..." (EDNS_TIMEOUT). */
function namesDnsLookup(text: unknown, name: string): boolean {
  return typeof text === "string" && text.includes(`DNS lookup of ${name}`);
}

async function stops(sg: NamespacedShardgate, what: string): Promise<void> {
  const code = await sigtermExit(sg);
  assert.equal(code, 0, `SIGTERM with ${what}\n${sg.output()}`);
}

// Three at a time: each case runs a shardgate process, and the machine may have two cores.
describe("the dependencies' clients resolve through the bounded lookup", { concurrency: 3 }, () => {
  it("the Consul agent's hostname hangs in DNS: watch failure logged and counted, proxy and data dir go on, recovery once DNS answers", {
    skip: fx.skip ?? false,
    timeout: 240_000,
  }, async () => {
    const { dns, port } = await setUp();
    const consul = await ConsulDouble.create({ seed });
    closers.push(() => consul.close());
    const reg = await fetch(`http://${consul.address}/v1/agent/service/register`, {
      method: "PUT",
      body: JSON.stringify({ ID: "c1", Name: "deps-api", Address: "127.0.0.1", Port: port }),
    });
    assert.equal(reg.status, 200, await reg.text());
    const NAME = "consul.dns-dependencies.test";
    const sg = await start(
      "consul",
      port,
      `discovery:
  consul: { address: "http://${NAME}:${consul.port}", wait: 5s }
pools:
POOLS
  api:
    discovery: { consul: { service: deps-api } }
routes:
  - { match: { pathPrefix: /api }, pool: api, key: [header:x-k] }
  - { match: { pathPrefix: / }, pool: ip, key: [header:x-k] }
`,
    );
    await dns.waitQueries((q) => q.includes(NAME), scaled(30_000));
    // The first failure of the streak, within the lookup's bound (1.5 s here), naming the lookup. The
    // old code failed at papi's timeout (wait + 10 s) with "request timed out".
    const warn = await logLine(sg, "the consul watch failure", msgStarts("consul watch failed"));
    assert.ok(namesDnsLookup(warn.err, NAME), `consul failure does not name the DNS lookup\n${sg.output()}`);
    await keepsServing(sg);
    await metricAbove0(sg, "shardgate_dns_timeouts_total");
    await metricAbove0(sg, "shardgate_discovery_errors_total", { pool: "api", source: "consul" });
    assert.equal(
      consul.healthRequestCount("deps-api"),
      0,
      "the agent was reached while its name did not resolve",
    );
    // DNS answers: the watcher reaches the agent, the member is committed and serves.
    answering.add(NAME);
    await eventually(
      "the consul pool serving once DNS answers",
      async () => ((await status(`${sg.http}/api/x`, "back")) === 200 ? true : undefined),
      90_000,
      250,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
    await logLine(sg, "the consul watch recovery", msgStarts("consul watch recovered"));
    await stops(sg, "the Consul agent's DNS hung earlier");
  });

  it("the Kubernetes API server's hostname hangs in DNS: watch failure logged and counted, proxy and data dir go on, recovery once DNS answers", {
    skip: fx.skip ?? false,
    timeout: 240_000,
  }, async () => {
    const { dns, port } = await setUp();
    const kube = await kubeServingApp(port);
    closers.push(() => kube.close());
    const NAME = "kube.dns-dependencies.test";
    const kubeconfig = writeKubeconfigFor(join(dir, "kubeconfig"), {
      name: "hung",
      server: `http://${NAME}:${kube.port}`,
      insecureSkipTlsVerify: true,
    });
    const sg = await start(
      "kube",
      port,
      `pools:
POOLS
  app:
    discovery: { kubernetes: { service: app, namespace: default, port: http, kubeconfig: ${kubeconfig} } }
routes:
  - { match: { pathPrefix: /app }, pool: app, key: [header:x-k] }
  - { match: { pathPrefix: / }, pool: ip, key: [header:x-k] }
`,
    );
    await dns.waitQueries((q) => q.includes(NAME), scaled(30_000));
    // The old code: the list's own 30 s timeout ("list timed out"), the lookup still hung.
    const warn = await logLine(
      sg,
      "the endpointslice watch failure",
      msgStarts("kubernetes endpointslice watch failed"),
    );
    assert.ok(
      namesDnsLookup(warn.err, NAME),
      `kubernetes failure does not name the DNS lookup\n${sg.output()}`,
    );
    await keepsServing(sg);
    await metricAbove0(sg, "shardgate_dns_timeouts_total");
    await metricAbove0(sg, "shardgate_discovery_errors_total", { pool: "app", source: "kubernetes" });
    answering.add(NAME);
    await eventually(
      "the kubernetes pool serving once DNS answers",
      async () => ((await status(`${sg.http}/app/x`, "back")) === 200 ? true : undefined),
      90_000,
      250,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
    await logLine(sg, "the endpointslice watch recovery", msgStarts("endpointslice watch recovered"));
    await stops(sg, "the API server's DNS hung earlier");
  });

  it("the OTLP collector's hostname hangs in DNS: requests served, spans counted failed with the lookup named, exported once DNS answers", {
    skip: fx.skip ?? false,
    timeout: 240_000,
  }, async () => {
    const { dns, port } = await setUp();
    let posts = 0;
    const collector: Server = createServer((req, res) => {
      posts++;
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    });
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
    closers.push(
      () =>
        new Promise<void>((r) => {
          collector.closeAllConnections();
          collector.close(() => r());
        }),
    );
    const NAME = "otlp.dns-dependencies.test";
    const sg = await start(
      "otlp",
      port,
      `tracing:
  enabled: true
  otlpEndpoint: "http://${NAME}:${(collector.address() as AddressInfo).port}/v1/traces"
pools:
POOLS
routes:
  - { match: { pathPrefix: / }, pool: ip, key: [header:x-k] }
`,
    );
    // Spans to export: a few requests, each answered 200 whatever the collector does.
    for (let i = 0; i < 5; i++) assert.equal(await status(`${sg.http}/ip/${i}`, `t${i}`), 200, sg.output());
    await dns.waitQueries((q) => q.includes(NAME), scaled(30_000));
    const warn = await logLine(sg, "the tracing warn line", msgStarts("tracing: spans not exported"));
    // The old code: "Request timed out" (the exporter's 10 s), the getaddrinfo still hung.
    assert.ok(namesDnsLookup(warn.err, NAME), `tracing failure does not name the DNS lookup\n${sg.output()}`);
    await metricAbove0(sg, "shardgate_tracing_spans_total", { result: "failed" });
    await metricAbove0(sg, "shardgate_dns_timeouts_total");
    await keepsServing(sg);
    assert.equal(posts, 0, "the collector was reached while its name did not resolve");
    answering.add(NAME);
    // Bounded: a request every 200 ms for at most 90 s (scaled), until a batch is exported.
    await eventually(
      "spans exported once DNS answers",
      async () => {
        assert.equal(await status(`${sg.http}/ip/again`, "again"), 200);
        const v = metricValue(await metrics(sg), "shardgate_tracing_spans_total", { result: "exported" });
        return v !== undefined && v > 0 && posts > 0 ? v : undefined;
      },
      90_000,
      200,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
    await stops(sg, "the collector's DNS hung earlier");
  });

  for (const mode of ["sentinel", "cluster"] as const) {
    it(`Redis ${mode} named by a hostname whose DNS hangs: the lookup is bounded and counted, requests served, SIGTERM exits 0`, {
      skip: fx.skip ?? false,
      timeout: 240_000,
    }, async () => {
      const { dns, port } = await setUp();
      const NAME = `${mode}.dns-dependencies.test`;
      const redis =
        mode === "sentinel"
          ? `redis: { sentinel: { name: main, sentinels: ["${NAME}:26379"] } }`
          : `redis: { cluster: { nodes: ["${NAME}:7000"] } }`;
      const sg = await start(
        mode,
        port,
        `pools:
POOLS
routes:
  - { match: { pathPrefix: / }, pool: ip, key: [header:x-k], rateLimit: { limit: 1000, window: 1s, store: redis, onStoreError: open } }
${redis}
`,
      );
      await dns.waitQueries((q) => q.includes(NAME), scaled(30_000));
      // The only hostname of this process: the lookup's timeouts are its. The old code asked
      // getaddrinfo (nothing counted here) and SIGTERM never ended the process.
      await metricAbove0(sg, "shardgate_dns_timeouts_total");
      const down = await logLine(sg, "the redis unavailable line", msgStarts("redis unavailable"));
      // Cluster: the start-up node's lookup failed (before, no line at all). Sentinel: the
      // sentinel client's own error after ioredis's "Connection is closed.", which was all it
      // said before; its 1 s connect timeout ends the wait for the lookup, and that error said
      // "(connect ETIMEDOUT)" until it named the lookup still pending.
      assert.ok(namesDnsLookup(down.err, NAME), `redis failure does not name the DNS lookup\n${sg.output()}`);
      await keepsServing(sg);
      // The store's own figures: down, and the rate limit's requests (served by onStoreError:
      // open) counted as store errors.
      assert.equal(metricValue(await metrics(sg), "shardgate_store_up", {}), 0, sg.output());
      await metricAbove0(sg, "shardgate_store_errors_total", { feature: "rate_limit" });
      await stops(sg, `the Redis ${mode} name's DNS hung`);
    });
  }

  it("active checks of a hostname member whose DNS hangs: probes hold no thread, the member is judged unhealthy, healthy again once DNS answers", {
    skip: fx.skip ?? false,
    timeout: 240_000,
  }, async () => {
    const { dns, port } = await setUp();
    const NAME = "checked.dns-dependencies.test";
    const sg = await start(
      "checks",
      port,
      `pools:
POOLS
  checked:
    healthCheck: { path: /, interval: 1s, timeout: 1s, unhealthyThreshold: 1, healthyThreshold: 1 }
    members:
      - { id: h1, address: "${NAME}:${port}" }
routes:
  - { match: { pathPrefix: /checked }, pool: checked, key: [header:x-k] }
  - { match: { pathPrefix: / }, pool: ip, key: [header:x-k] }
`,
    );
    await dns.waitQueries((q) => q.includes(NAME), scaled(30_000));
    // No request goes to the checked pool while DNS hangs: the lookups counted are the probes'.
    // The old code probed through getaddrinfo (nothing counted) and SIGTERM did not end it.
    await metricAbove0(sg, "shardgate_dns_timeouts_total");
    await eventually(
      "the hostname member judged unhealthy",
      async () =>
        metricValue(await metrics(sg), "shardgate_member_healthy", { pool: "checked", member: "h1" }) === 0
          ? true
          : undefined,
      30_000,
      200,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
    await keepsServing(sg);
    answering.add(NAME);
    await eventually(
      "the checked member healthy and serving once DNS answers",
      async () => {
        const healthy = metricValue(await metrics(sg), "shardgate_member_healthy", {
          pool: "checked",
          member: "h1",
        });
        return healthy === 1 && (await status(`${sg.http}/checked/x`, "back")) === 200 ? true : undefined;
      },
      60_000,
      250,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
    await stops(sg, "the checked member's DNS hung earlier");
  });
});
