// An outside try on memory: a cache entry in Redis larger than the route may hold (written by
// an instance with a larger maxBytes, another fleet sharing the Redis, or anyone with access).
// Before, the lookup was a plain GET: each request for that URL took the whole value from Redis
// into memory before decodeEntry could refuse it (32 MiB per request here, and concurrently as
// many times as requests came). Now the read is STRLEN-guarded in one script: the value never
// leaves Redis (its own byte counter, total_net_output_bytes, shows under 1 MiB sent for all the
// tries), the request is answered from the upstream as a miss, the oversize is counted as a
// store error and logged once, and other URLs keep hitting the cache.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { startEdgeHarness } from "../edge/edge-harness.js";
import { send } from "../proxy/harness.js";
import { recordingLogger } from "../support/recording-logger.js";
import { redisCacheOriginPerFile } from "../support/redis-cache-origin.js";
import { eventually } from "../support/wait.js";

const origin = redisCacheOriginPerFile();

const PLANTED = 32 * 1024 * 1024;
const TRIES = 3;

async function sentByRedis(admin: Redis): Promise<number> {
  const info = await admin.info("stats");
  const m = /total_net_output_bytes:(\d+)/.exec(info);
  assert.ok(m, "redis INFO stats has total_net_output_bytes");
  return Number(m[1]);
}

test("an oversized cache entry in Redis is not read: a miss from the upstream, counted, logged once", {
  timeout: 120_000,
}, async (t) => {
  const { logger, lines: warnings } = recordingLogger(["warn"]);
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: origin.redis.url,
    redis: { keyPrefix: "big:" },
    config: origin.cachedConfig,
    logger,
  });
  t.after(() => h.close());
  const admin = new Redis(origin.redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  t.after(() => admin.quit());
  const big = "/static/public/big";
  const small = "/static/public/small";
  const key = (p: string) => `big:c:{*/static|http://127.0.0.1:${h.port}|GET|${p}}`;
  for (const p of [big, small]) {
    assert.equal((await send(h.port, { path: p })).headers["x-cache"], "MISS");
    await eventually(`${p} stored`, async () => ((await admin.exists(key(p))) === 1 ? true : undefined));
  }
  const filler = Buffer.alloc(PLANTED, "a");
  let sent = 0;
  for (let i = 0; i < TRIES; i++) {
    // Planted again each time: the miss's own fresh entry replaces it in the background.
    await admin.set(key(big), filler);
    const before = await sentByRedis(admin);
    const r = await send(h.port, { path: big });
    sent += (await sentByRedis(admin)) - before;
    assert.equal(r.status, 200, "answered despite the oversized entry");
    assert.equal(r.headers["x-cache"], "MISS");
    assert.match(r.text, /static\/public\/big/, "the upstream's body");
  }
  assert.ok(sent < 1024 * 1024, `redis sent ${sent} bytes for ${TRIES} lookups of a ${PLANTED}-byte value`);
  const hit = await send(h.port, { path: small });
  assert.equal(hit.headers["x-cache"], "HIT", "another URL is still served from the cache");
  assert.match(
    await h.registry.metrics(),
    new RegExp(`shardgate_store_errors_total\\{feature="cache"\\} ${TRIES}\\b`),
  );
  assert.equal(
    warnings.filter((w) => w.includes("larger than this route's maxBytes")).length,
    1,
    warnings.join("\n"),
  );
});
