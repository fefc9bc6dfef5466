// The Redis reply bound (proxy/redis/reply-bound.ts, `redis.maxReplyBytes`) with the client built
// for Sentinel and for Cluster, against fakes on loopback that answer one query with a reply that
// never ends (test/support/hostile-redis.ts; a cap of 128 MiB per connection):
//   - a sentinel answering SENTINEL get-master-addr-by-name endlessly: ioredis asks each sentinel
//     through a client of its own, and that client's connection was not watched: it read the
//     fake's whole cap (the proxy's memory grew with it). Now it is dropped past the bound.
//   - an honest sentinel naming a master that answers a script call endlessly;
//   - a Cluster start-up node answering CLUSTER SLOTS endlessly.
// Each: the connection is dropped (counted in repliesTooLarge), the fake manages a few MiB per
// connection at most, and the store stays an unavailable store (nothing hangs or throws).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { redisSchema } from "../../config/file/edge-schema.js";
import { RedisStore } from "../../proxy/redis/redis-store.js";
import { HostileRedis } from "../support/hostile-redis.js";
import { eventually } from "../support/wait.js";

const MIB = 1024 * 1024;
const CAP = 128 * MIB;
/** The 4 MiB bound plus what the kernel buffers on both sides of a loopback connection (redis-huge-reply.test.ts). */
const PER_CONNECTION = 48 * MIB;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const fakes: HostileRedis[] = [];
const stores: RedisStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
  for (const f of fakes) await f.close();
});

async function fake(...args: ConstructorParameters<typeof HostileRedis>): Promise<HostileRedis> {
  const f = await new HostileRedis(...args).start();
  fakes.push(f);
  return f;
}

function store(section: Record<string, unknown>): RedisStore {
  const s = new RedisStore(redisSchema.parse({ commandTimeout: "2s", ...section }), silent);
  stores.push(s);
  return s;
}

const isSentinel = (args: readonly string[], sub: string): boolean =>
  args[0]?.toUpperCase() === "SENTINEL" && args[1]?.toLowerCase() === sub;

/** Waits for two dropped replies (the first connection and a retry), then checks the fake's bytes per reply. */
async function boundHolds(s: RedisStore, f: HostileRedis, what: string): Promise<void> {
  await eventually(
    `${what}: two replies dropped past the bound`,
    () => (s.repliesTooLarge >= 2 ? true : undefined),
    60_000,
  ).catch((err: unknown) => {
    throw new Error(
      `${String(err)} (${f.replies} endless replies started, ${(f.written / MIB).toFixed(1)} MiB written, ${s.repliesTooLarge} dropped)`,
    );
  });
  assert.ok(f.replies >= 1, what);
  const perReply = f.written / f.replies;
  assert.ok(perReply < PER_CONNECTION, `${what}: ${(perReply / MIB).toFixed(1)} MiB per reply read`);
}

test("Sentinel: a sentinel's endless answer to get-master-addr-by-name drops its connection", {
  timeout: 120_000,
}, async () => {
  const sentinel = await fake("bulk", CAP, { floodOn: (a) => isSentinel(a, "get-master-addr-by-name") });
  const s = store({ sentinel: { name: "main", sentinels: [`127.0.0.1:${sentinel.port}`] } });
  await boundHolds(s, sentinel, "sentinel");
  assert.equal(s.ready, false, "no master was ever named");
});

test("Sentinel: the master it names answering a script call endlessly drops that connection", {
  timeout: 120_000,
}, async () => {
  const master = await fake("array", CAP);
  const addr = `*2\r\n$9\r\n127.0.0.1\r\n$${String(master.port).length}\r\n${master.port}\r\n`;
  const sentinel = await fake("bulk", CAP, {
    floodOn: () => false,
    answer: (a) =>
      isSentinel(a, "get-master-addr-by-name") ? addr : isSentinel(a, "sentinels") ? "*0\r\n" : undefined,
  });
  const s = store({ sentinel: { name: "main", sentinels: [`127.0.0.1:${sentinel.port}`] } });
  s.defineScript({ name: "sgProbe", keys: 1, lua: "return redis.call('GET', KEYS[1])" });
  await eventually("the store to connect to the named master", () => (s.ready ? true : undefined), 30_000);
  assert.equal(sentinel.replies, 0, "the honest sentinel flooded nothing");
  // Script calls until two connections were dropped; each rejects (a store error), bounded.
  for (let i = 0; i < 200 && s.repliesTooLarge < 2; i++) {
    await s.script("sgProbe", ["k"]).then(
      () => assert.fail("an endless reply answered"),
      () => undefined,
    );
    if (!s.ready)
      await eventually(
        "the store to reconnect",
        () => (s.ready || s.repliesTooLarge >= 2 ? true : undefined),
        30_000,
      );
  }
  await boundHolds(s, master, "master");
});

test("Cluster: a start-up node's endless answer to CLUSTER SLOTS drops its connection", {
  timeout: 120_000,
}, async () => {
  const node = await fake("array", CAP, { floodOn: (a) => a[0]?.toUpperCase() === "CLUSTER" });
  const s = store({ cluster: { nodes: [`127.0.0.1:${node.port}`] } });
  await boundHolds(s, node, "cluster node");
  assert.equal(s.ready, false, "no slots were ever learnt");
});
