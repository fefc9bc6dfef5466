// Redis misbehaving under a real shardgate process, seen from outside: a wrong password, a
// frozen server (SIGSTOP: connected, never answering) and a server refusing writes (OOM under
// `maxmemory 1` + noeviction). Each time requests are still served within a bound (affinity:
// the ring; rate limit: fail open; cache: a miss), one clear log line names the reason, the
// `shardgate_store_up` gauge says 0, and both come back when Redis does. Before this, a Redis
// that never became ready (wrong password, down at start) logged nothing at all.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import {
  type LogLine,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const TOKEN = "redis-faults-admin-token-0123456789";
let upstream: Server;
let upstreamPort = 0;

before(async () => {
  upstream = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
after(async () => {
  await stopAll();
  await stopAllRedis();
  upstream.close();
});

function config(url: string): string {
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
admin: { token: ${TOKEN} }
pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:${upstreamPort}" }
redis: { url: "${url}", keyPrefix: "sg:", commandTimeout: 250ms, breaker: { failures: 3, openFor: 500ms } }
routes:
  - match: { host: "*", pathPrefix: /api }
    pool: users
    key: [header:x-user-id]
    affinity: { store: redis, ttl: 30m, mode: sticky }
    rateLimit: { limit: 1000, window: 1s, store: redis, onStoreError: open }
  - match: { host: "*", pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: 1mb }
`;
}

/** Status and elapsed ms of one request (a fresh user each time: a new affinity pin, a new bucket). */
async function timed(
  sg: RunningShardgate,
  path: string,
  user: string,
): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${sg.httpUrl}${path}`, {
    headers: { "x-user-id": user },
    signal: AbortSignal.timeout(scaled(20_000)),
  });
  await res.text();
  return { status: res.status, ms: performance.now() - t0 };
}

async function storeUp(sg: RunningShardgate): Promise<number | undefined> {
  const text = await fetch(`${sg.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
    (r) => r.text(),
  );
  return metricValue(text, "shardgate_store_up", {});
}

const unavailable = (reason: RegExp) => (l: LogLine) =>
  l.msg?.startsWith("redis unavailable") === true && reason.test(String(l.err));

/** 40 requests (both features' routes), each must be a 200; returns the slowest. */
async function serveAll(sg: RunningShardgate, tag: string): Promise<number> {
  let slowest = 0;
  const rs = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      timed(sg, i % 2 === 0 ? `/api/${i}` : `/static/s/${tag}${i}`, `${tag}-${i}`),
    ),
  );
  for (const r of rs) {
    assert.equal(r.status, 200);
    slowest = Math.max(slowest, r.ms);
  }
  return slowest;
}

test("a wrong password is logged with Redis's reason and store_up is 0; the right one brings Redis back", async () => {
  const redis: RedisServer = await startRedis();
  const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  await admin.config("SET", "requirepass", "right-password");
  await admin.quit();
  const sg = await startShardgate(config(`redis://:wrong-password@127.0.0.1:${redis.port}`));
  const line = await sg.proc.waitForLine(
    "a redis unavailable line naming WRONGPASS",
    unavailable(/WRONGPASS/),
  );
  assert.match(String(line.level), /warn|40/);
  await serveAll(sg, "pw");
  assert.equal(await storeUp(sg), 0);

  // The operator fixes Redis's side: the client's retries find it.
  const fix = new Redis(redis.url, { password: "right-password", maxRetriesPerRequest: 1 });
  await fix.config("SET", "requirepass", "wrong-password");
  await fix.quit();
  await sg.proc.waitForLine("redis connected", (l) => l.msg === "redis connected", 30_000);
  await eventually(
    "store_up to be 1",
    async () => ((await storeUp(sg)) === 1 ? true : undefined),
    15_000,
    100,
  );
  await sg.stop();
  await redis.stop();
});

test("a frozen Redis (SIGSTOP) bounds every request by the command timeouts, is logged, and recovers on SIGCONT", async () => {
  const redis = await startRedis();
  const sg = await startShardgate(config(redis.url));
  await serveAll(sg, "warm");
  assert.equal(await storeUp(sg), 1);
  const from = sg.proc.lines.length;
  redis.freeze(true);
  try {
    // /api asks Redis twice in turn (affinity, then the rate limit): at most 2 x 250 ms each,
    // then the breaker answers at once. The bound leaves room for a loaded machine.
    const slowest = await serveAll(sg, "frozen");
    assert.ok(slowest < scaled(3_000), `a request waited ${Math.round(slowest)} ms on a frozen Redis`);
    await sg.proc.waitForLine("a timed-out line", unavailable(/timed out/i), undefined, from);
    assert.equal(await storeUp(sg), 0);
  } finally {
    redis.freeze(false);
  }
  await eventually(
    "Redis to be used again after SIGCONT",
    async () => {
      await serveAll(sg, `thaw${Date.now()}`);
      return (await storeUp(sg)) === 1 ? true : undefined;
    },
    15_000,
    300,
  );
  await sg.proc.waitForLine(
    "redis available again",
    (l) => l.msg === "redis available again",
    undefined,
    from,
  );
  await sg.stop();
  await redis.stop();
});

test("Redis refusing writes (OOM) is logged once per 10 s, not per request; requests are served", async () => {
  const redis = await startRedis();
  const sg = await startShardgate(config(redis.url));
  await serveAll(sg, "pre");
  const from = sg.proc.lines.length;
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  await admin.config("SET", "maxmemory-policy", "noeviction");
  await admin.config("SET", "maxmemory", "1");
  try {
    for (let round = 0; round < 3; round++) await serveAll(sg, `oom${round}`);
    await sg.proc.waitForLine("an OOM line", unavailable(/OOM/), undefined, from);
    const lines = sg.proc.lines.slice(from).filter((l) => l.msg?.startsWith("redis ") === true);
    // 120 requests with a failing command each: at most one unavailable and one "again" line
    // (reads still succeed between the refused writes) while under 10 s.
    assert.ok(lines.length <= 3, lines.map((l) => JSON.stringify(l)).join("\n"));
  } finally {
    await admin.config("SET", "maxmemory", "0");
    await admin.quit();
  }
  await sg.stop();
  await redis.stop();
});
