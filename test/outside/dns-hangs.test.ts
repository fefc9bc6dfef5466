// Tried from the outside: a pool member named by hostname whose DNS hangs or fails. Node's
// dns.lookup is getaddrinfo on libuv's 4-thread pool (also async fs's).
// Found: with a resolver that never answers, each new connection to the hostname member queued
// a getaddrinfo that held a thread for the resolver's whole timeout (150 s here); libuv runs at
// most 2 of them at once, so a member named `localhost` could not be resolved either (502), and
// SIGTERM never ended the process: "shutdown complete" was logged, then the exit joined the
// hung threads (the stop bound of drain + 5 s did not hold). IP members, Raft writes
// (synchronous) and SIGHUP reloads (read on the event loop) were not affected. With NXDOMAIN
// every connect attempt asked the resolver again, answered `upstream_connect_failed`. Now
// lookups go through proxy/net/bounded-lookup.ts: /etc/hosts, then c-ares (no thread),
// getaddrinfo only for names DNS does not know (one at a time), a 5 s bound, answers kept for
// their TTL (1-30 s), failures 2 s; a failed lookup answers `upstream_dns`.
// A real shardgate process in a mount namespace of its own (unshare -m) whose resolv.conf
// names a DNS double on 127.x.y.z:53 (test/support/dns-double.ts); loopback only.

import assert from "node:assert/strict";
import { test } from "node:test";
import { adminPost, sighupReloaded } from "../support/dns-admin.js";
import { dnsFixture, type NamespacedShardgate, sigtermExit } from "../support/dns-process.js";
import { eventually, scaled } from "../support/wait.js";

const fx = dnsFixture(20_261_206, "shardgate-dns-");
const NAME = "member.dns-hangs.test";
const TOKEN = "dns-hangs-test-token";

function config(port: number): string {
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "${TOKEN}" }
log: { level: info, accessLog: false }
pools:
  ip:
    members:
      - { id: i1, address: "127.0.0.1:${port}" }
  named:
    # Breakers stay closed: every request here wants a connection, so a lookup.
    breaker: { consecutiveFailures: 100000, minRequests: 100000 }
    members:
      - { id: n1, address: "${NAME}:${port}" }
  local:
    members:
      - { id: l1, address: "localhost:${port}" }
routes:
  - { match: { pathPrefix: /local }, pool: local, key: [header:x-k] }
  - { match: { pathPrefix: /named }, pool: named, key: [header:x-k] }
  - { match: { pathPrefix: / }, pool: ip, key: [header:x-k] }
`;
}

function start(name: string, port: number, yaml = config(port)): Promise<NamespacedShardgate> {
  // One try of 30 s (glibc's cap), 5 times: a hung getaddrinfo holds its thread 150 s.
  return fx.start(name, yaml, { timeoutS: 30, attempts: 5 });
}

async function get(url: string, key: string, ms: number): Promise<{ status: number; error?: string }> {
  const res = await fetch(url, { headers: { "x-k": key }, signal: AbortSignal.timeout(scaled(ms)) });
  const text = await res.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {}
  return { status: res.status, error };
}

test("a hostname member whose DNS never answers: IP members, Raft writes and SIGHUP reloads go on", {
  skip: fx.skip ?? false,
  timeout: 240_000,
}, async () => {
  const { dns, port } = await fx.prepare("silent");
  const sg = await start("hang", port);
  // Connections to the hostname member, each of which asked the resolver: 12 in parallel, a
  // few rounds (each request's connect timeout, 1 s, ends it), enough to hold every thread.
  const named = Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      const out: Array<{ status: number; error?: string }> = [];
      for (let round = 0; round < 3; round++)
        out.push(await get(`${sg.http}/named/x`, `k${i}-${round}`, 30_000));
      return out;
    }),
  );
  await dns.waitQueries((q) => q.includes(NAME), scaled(30_000));
  // The IP member on the same instance serves throughout.
  for (let i = 0; i < 5; i++) {
    const r = await get(`${sg.http}/ip/${i}`, `ip${i}`, 10_000);
    assert.equal(r.status, 200, sg.output());
  }
  // A member named `localhost` (its first connection now) resolves from /etc/hosts. The old
  // code's getaddrinfo for it queued behind the hung ones on the thread pool: 502 after the
  // connect timeout.
  const local = await get(`${sg.http}/local/x`, "local", 10_000);
  assert.equal(local.status, 200, `localhost member while DNS hangs: ${local.error}\n${sg.output()}`);
  // A Raft write (the drain is answered once committed) and a SIGHUP reload. Raft's appends
  // and fsyncs are synchronous and the config is read on the event loop, so neither used the
  // thread pool: they held on the old code too, and must keep holding.
  const drain = await adminPost(sg, "/admin/pools/ip/members/i1/drain", TOKEN);
  assert.equal(drain, 200, `drain while DNS hangs\n${sg.output()}`);
  // A SIGHUP reload reads the config file on the pool too.
  await sighupReloaded(sg);
  // Requests to the hostname member fail in bounded time with a clear code: the connect
  // timeout (1 s) covers the lookup, then the member is skipped locally for a while.
  const answers = (await named).flat();
  for (const r of answers) {
    const ok =
      (r.status === 502 && (r.error === "upstream_connect_failed" || r.error === "upstream_dns")) ||
      (r.status === 503 && r.error === "no_available_member");
    assert.ok(ok, `${r.status} ${r.error}\n${sg.output()}`);
  }
  assert.ok(
    answers.some((r) => r.status === 502),
    `no request reached the hostname member\n${sg.output()}`,
  );
  // The stop bound holds with lookups still hung (no request is in flight by now).
  const code = await sigtermExit(sg);
  assert.equal(code, 0, `SIGTERM with DNS hung\n${sg.output()}`);
});

test("NXDOMAIN: upstream_dns at once (then the local skip), the resolver asked once per interval, served again once it answers", {
  skip: fx.skip ?? false,
  timeout: 180_000,
}, async () => {
  const { dns, port } = await fx.prepare("nxdomain");
  const sg = await start("nx", port);
  const before = dns.queries.length;
  const started = Date.now();
  let n = 0;
  // 40 requests, one after another: each wants a new connection (none ever opened). A failed
  // lookup skips the member locally for 2 s, as a refusal does: 503 no_available_member then.
  let dnsAnswers = 0;
  for (; n < 40; n++) {
    const r = await get(`${sg.http}/named/x`, `k${n}`, 10_000);
    const ok =
      (r.status === 502 && r.error === "upstream_dns") ||
      (r.status === 503 && r.error === "no_available_member");
    assert.ok(ok, `${r.status} ${r.error}\n${sg.output()}`);
    if (r.status === 502) dnsAnswers++;
  }
  assert.ok(dnsAnswers >= 1, `no request was answered upstream_dns\n${sg.output()}`);
  const elapsed = Date.now() - started;
  const asked = dns.queries.slice(before).filter((q) => q === NAME).length;
  // A and AAAA from c-ares, then again from getaddrinfo (the search list), once per 2 s of
  // negative caching: the old code asked twice per request (80 here).
  const bound = 4 * (Math.ceil(elapsed / 2000) + 1);
  assert.ok(
    asked <= bound,
    `${asked} queries for ${n} requests in ${elapsed} ms (bound ${bound})\n${sg.output()}`,
  );
  // No log line per failed request (access log off): the log does not flood.
  const warn = sg.lines.filter((l) => l.level === "warn" || l.level === "error" || (l.level as number) >= 40);
  assert.ok(warn.length < 10, `${warn.length} warn/error lines for ${n} failures\n${sg.output()}`);
  // The resolver answers again: the member serves once the negative entry expires.
  dns.mode = "answer";
  await eventually(
    "the hostname member serving after DNS recovers",
    async () => ((await get(`${sg.http}/named/x`, "back", 10_000)).status === 200 ? true : undefined),
    30_000,
    200,
  );
  sg.proc.kill("SIGTERM");
  assert.equal(await sg.exited, 0, sg.output());
});

test("Redis named by a hostname whose DNS never answers: reconnects hold no thread, SIGTERM exits 0", {
  skip: fx.skip ?? false,
  timeout: 180_000,
}, async () => {
  const { dns, port } = await fx.prepare("silent");
  const redisName = "redis.dns-hangs.test";
  const yaml = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  ip:
    members:
      - { id: i1, address: "127.0.0.1:${port}" }
routes:
  - { pool: ip, key: [header:x-k], rateLimit: { limit: 1000, window: 1s, store: redis, onStoreError: open } }
redis: { url: "redis://${redisName}:6379" }
`;
  const sg = await start("redis", port, yaml);
  // ioredis reconnects while Redis is away, each time with a lookup: wait for a failed one.
  const down = await eventually(
    "a redis connect failure",
    () => sg.lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("redis unavailable")),
    60_000,
    100,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
  // ioredis's 1 s connectTimeout fires before the lookup's bound: the line names the lookup,
  // not "connect ETIMEDOUT" (no connect had started).
  assert.ok(
    String(down.err).includes(`DNS lookup of ${redisName}`),
    `redis failure does not name the DNS lookup\n${sg.output()}`,
  );
  assert.ok(dns.queries.includes(redisName), `the Redis name was never asked\n${sg.output()}`);
  const r = await get(`${sg.http}/x`, "k", 10_000);
  assert.equal(r.status, 200, sg.output());
  // The old code: "shutdown complete", then no exit (the exit joined the hung getaddrinfo threads).
  const code = await sigtermExit(sg);
  assert.equal(code, 0, `SIGTERM with the Redis name's DNS hung\n${sg.output()}`);
});
