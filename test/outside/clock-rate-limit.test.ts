// Redis's clock steps back under a fleet-wide rate limit (the token bucket is refilled by Redis's
// own TIME, so instances' clocks never matter, but Redis's does). Found on the old script: a
// bucket last stamped before a step back of an hour was refilled only when Redis's clock passed
// its stamp again, so an emptied key was refused (429) for the hour, each refusal saying "retry
// in 100 ms". Now a stamp in Redis's future is moved to now and the bucket refills from there.
//
// The step is played by writing the bucket as the script left it an hour before the step: a
// real redis-server, the product's script through RedisStore. redis-server itself cannot run
// under libfaketime 0.9.10 (jemalloc's first clock_gettime() recurses into its initialisation).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { redisSchema } from "../../config/file/edge-schema.js";
import { TOKEN_BUCKET } from "../../proxy/rate-limit/token-bucket-script.js";
import { RedisStore } from "../../proxy/redis/redis-store.js";
import { storeKey } from "../../proxy/redis/store-key.js";
import { startRedis, stopAllRedis } from "../support/redis-server.js";
import { eventually, scaled } from "../support/wait.js";

after(() => stopAllRedis());
const silent = { debug() {}, info() {}, warn() {}, error() {} };
/** 10 tokens a second (per ms, as the route passes it), a burst of 1. */
const RATE = 10 / 1000;
const BURST = 1;

test("an emptied bucket stamped an hour in Redis's future refills at its rate, not after the hour", async (t) => {
  const redis = await startRedis();
  const store = new RedisStore(redisSchema.parse({ url: redis.url, keyPrefix: "clock:" }), silent);
  t.after(() => store.close());
  await eventually("the store to connect", () => (store.ready ? true : undefined), 10_000);
  store.defineScript(TOKEN_BUCKET);
  const key = storeKey("rl", "stepped");
  const [s, us] = await store.run((c) => c.time());
  const redisNow = Number(s) * 1000 + Math.floor(Number(us) / 1000);
  // Empty, and stamped an hour ahead: what the clock stepping back an hour leaves behind.
  await store.run((c) => c.hset(key, "tk", "0", "ts", String(redisNow + 3_600_000)));
  const first = await store.script<number[]>(TOKEN_BUCKET.name, [key, RATE, BURST]);
  assert.equal(first[0], 0, "still empty at once");
  // One token takes 100 ms at this rate; the bound is for a loaded machine.
  const start = performance.now();
  const bound = scaled(10_000);
  for (let i = 0; ; i++) {
    const r = await store.script<number[]>(TOKEN_BUCKET.name, [key, RATE, BURST]);
    if (r[0] === 1) break;
    assert.ok(
      performance.now() - start < bound,
      `refused for ${bound} ms (${i + 1} tries, each saying retry in ${r[2]} ms) after a -1h step`,
    );
    await new Promise((resolve) => setTimeout(resolve, Math.max(20, r[2])));
  }
  const [, ts] = await store.run((c) => c.hmget(key, "tk", "ts"));
  assert.ok(Number(ts) < redisNow + 3_600_000, `the bucket's stamp moved back to Redis's now (${ts})`);
});
