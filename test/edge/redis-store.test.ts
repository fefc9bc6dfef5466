import assert from "node:assert/strict";
import { after, test } from "node:test";
import { redisSchema } from "../../config/file/edge-schema.js";
import { RedisStore, StoreUnavailableError } from "../../proxy/redis/redis-store.js";
import { storeKey } from "../../proxy/redis/store-key.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { eventually } from "../support/wait.js";

after(() => stopAllRedis());
const silent = { debug() {}, info() {}, warn() {}, error() {} };

function storeFor(redis: RedisServer, extra: Record<string, unknown> = {}): RedisStore {
  return new RedisStore(redisSchema.parse({ url: redis.url, keyPrefix: "t:", ...extra }), silent);
}

async function ready(store: RedisStore): Promise<void> {
  await eventually("the store to connect", () => (store.ready ? true : undefined), 10_000);
}

test("commands run with the key prefix, and keys of one id share a hash tag", async (t) => {
  const redis = await startRedis();
  const store = storeFor(redis);
  t.after(() => store.close());
  await ready(store);
  const key = storeKey("aff", "users|alice");
  assert.equal(key, "aff:{users|alice}");
  assert.equal(storeKey("c", "a}b", "lock"), "c:{a%7Db}:lock");
  // A client-chosen key of any length becomes a bounded, deterministic id.
  const long = storeKey("rl", "x".repeat(10_000));
  assert.ok(long.length < 64, long);
  assert.equal(long, storeKey("rl", "x".repeat(10_000)));
  assert.notEqual(long, storeKey("rl", `${"x".repeat(9_999)}y`));
  await store.run((c) => c.set(key, "m1"));
  // A client without the prefix sees the prefixed key.
  const raw = storeFor(redis, { keyPrefix: "" });
  t.after(() => raw.close());
  await ready(raw);
  assert.equal(await raw.run((c) => c.get(`t:${key}`)), "m1");
});

test("a frozen Redis costs a command at most about the command timeout; then the breaker stops sending", async (t) => {
  const redis = await startRedis();
  const store = storeFor(redis, {
    commandTimeout: 150,
    maxRetries: 0,
    breaker: { failures: 2, openFor: "60s" },
  });
  t.after(() => store.close());
  t.after(() => redis.freeze(false));
  await ready(store);
  redis.freeze(true);
  for (let i = 0; i < 2; i++) {
    const started = performance.now();
    await assert.rejects(store.run((c) => c.get("k")));
    const took = performance.now() - started;
    assert.ok(took < 3_000, `a command waited ${took.toFixed(0)} ms (timeout 150 ms)`);
  }
  assert.ok(store.breakerOpen, "two failures open the breaker");
  const started = performance.now();
  await assert.rejects(
    store.run((c) => c.get("k")),
    StoreUnavailableError,
  );
  assert.ok(performance.now() - started < 50, "with the breaker open nothing is sent");
});

test("a dead Redis fails commands at once (no offline queue) and the client reconnects when it is back", async (t) => {
  const redis = await startRedis();
  const store = storeFor(redis, { breaker: { failures: 100, openFor: "1ms" } });
  t.after(() => store.close());
  await ready(store);
  await store.run((c) => c.set("before", "1"));
  await redis.kill();
  await eventually("the client to notice", () => (store.ready ? undefined : true), 10_000);
  const started = performance.now();
  await assert.rejects(
    store.run((c) => c.get("before")),
    StoreUnavailableError,
  );
  assert.ok(performance.now() - started < 50, "not queued while disconnected");
  await redis.start(redis.port);
  await ready(store);
  await store.run((c) => c.set("after", "2"));
  assert.equal(await store.run((c) => c.get("after")), "2");
});
