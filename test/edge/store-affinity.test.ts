import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { hashKey } from "../../ring/hash.js";
import { send } from "../proxy/harness.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { eventually } from "../support/wait.js";
import { type EdgeHarness, startEdgeHarness } from "./edge-harness.js";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => stopAllRedis());

const KEYS = Array.from({ length: 60 }, (_, i) => `user-${i}`);
type Members = Array<{ id: string; address: string }>;

function configOf(members: Members, mode: "sticky" | "ring"): ShardgateConfigInput {
  return {
    pools: { users: { members } },
    routes: [
      {
        pool: "users",
        key: ["header:x-user-id"],
        // localTtl 50ms: the test also exercises the store path, not only this instance's copy.
        affinity: { store: "redis", ttl: "10m", mode, localTtl: "50ms" },
      },
    ],
  };
}

async function start(
  t: { after(fn: () => Promise<void>): void },
  mode: "sticky" | "ring",
  prefix: string,
  first: number,
): Promise<{ h: EdgeHarness; all: Members }> {
  let all: Members = [];
  const h = await startEdgeHarness({
    members: 3,
    redisUrl: redis.url,
    redis: { keyPrefix: prefix },
    config: (members) => {
      all = members;
      return configOf(members.slice(0, first), mode);
    },
  });
  t.after(() => h.close());
  return { h, all };
}

function withMembers(all: Members, n: number, mode: "sticky" | "ring"): ShardgateConfigInput {
  return configOf(all.slice(0, n), mode);
}

async function memberFor(h: EdgeHarness, key: string): Promise<string> {
  const r = await send(h.port, { headers: { "x-user-id": key } });
  assert.equal(r.status, 200, r.text);
  return r.json().member;
}

async function routeAll(h: EdgeHarness): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of KEYS) out.set(k, await memberFor(h, k));
  return out;
}

function ownerNow(h: EdgeHarness, key: string): string {
  const snap = h.holder.get().pools.get("users");
  assert.ok(snap);
  return snap.members[snap.table.lookup(hashKey(key))].id;
}

test("sticky: keys pinned before a scale-out stay where they were; the pins are in Redis", async (t) => {
  const { h, all } = await start(t, "sticky", "st1:", 2);
  const before = await routeAll(h);
  assert.ok(h.store);
  const pinned = await h.store.run((c) => c.get("aff:{users|user-0}"));
  assert.equal(pinned, before.get("user-0"));
  h.setConfig(withMembers(all, 3, "sticky"));
  // Keys the new ring gives to the new member: they must not move.
  const wouldMove = KEYS.filter((k) => ownerNow(h, k) === all[2].id);
  assert.ok(wouldMove.length > 5, `only ${wouldMove.length} keys would move; pick more keys`);
  await new Promise((r) => setTimeout(r, 60)); // past localTtl: the store path decides
  const afterScale = await routeAll(h);
  assert.deepEqual([...afterScale], [...before], "no key moved");
  // A key never seen before may go to the new member.
  const fresh = Array.from({ length: 60 }, (_, i) => `new-${i}`);
  const got = new Set<string>();
  for (const k of fresh) got.add(await memberFor(h, k));
  assert.ok(got.has(all[2].id), "new keys reach the new member");
});

test("ring: a scale-out moves exactly the keys the new ring gives to the new member", async (t) => {
  const { h, all } = await start(t, "ring", "rg1:", 2);
  const before = await routeAll(h);
  h.setConfig(withMembers(all, 3, "ring"));
  await new Promise((r) => setTimeout(r, 60));
  const afterScale = await routeAll(h);
  const moved = KEYS.filter((k) => afterScale.get(k) !== before.get(k));
  const expected = KEYS.filter((k) => ownerNow(h, k) === all[2].id);
  assert.ok(expected.length > 5);
  assert.deepEqual(moved, expected);
  for (const k of moved) assert.equal(afterScale.get(k), all[2].id);
});

test("two instances share pins: the second honours what the first pinned, even where its ring differs", async (t) => {
  const a = await start(t, "sticky", "sh1:", 2);
  const pinnedByA = await routeAll(a.h);
  const b = await start(t, "sticky", "sh1:", 3);
  // b's upstreams have the same member ids (m1..m3) as a's: a member id is what is pinned.
  const atB = await routeAll(b.h);
  assert.deepEqual([...atB], [...pinnedByA]);
  assert.ok(
    KEYS.some((k) => ownerNow(b.h, k) === "m3"),
    "b's ring would have sent some keys to m3",
  );
});

test("a pinned member that cannot take requests: the key is re-pinned to the ring's choice, in Redis too", async (t) => {
  const { h } = await start(t, "sticky", "rp1:", 3);
  const first = await memberFor(h, "user-7");
  h.setFlags({ users: { [first]: { healthy: false } } });
  const moved = await memberFor(h, "user-7");
  assert.notEqual(moved, first);
  assert.equal(await h.store?.run((c) => c.get("aff:{users|user-7}")), moved);
  // Once back, sticky keeps the new pin.
  h.setFlags({});
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(await memberFor(h, "user-7"), moved);
});

test("the pin's TTL slides with use", async (t) => {
  const { h } = await start(t, "sticky", "ttl1:", 3);
  await memberFor(h, "user-1");
  await h.store?.run((c) => c.pexpire("aff:{users|user-1}", 5_000));
  await new Promise((r) => setTimeout(r, 60));
  await memberFor(h, "user-1");
  const ttl = await h.store?.run((c) => c.pttl("aff:{users|user-1}"));
  assert.ok(ttl !== undefined && ttl > 60_000, `ttl ${ttl} was refreshed to the configured 10m`);
});

test("Redis down: requests still go through (ring choice), counted as store errors", async (t) => {
  const own = await startRedis();
  const h = await startEdgeHarness({
    members: 3,
    redisUrl: own.url,
    config: (members) => configOf(members, "sticky"),
  });
  t.after(() => h.close());
  await eventually("store ready", () => (h.store?.ready ? true : undefined));
  await own.kill();
  for (let i = 0; i < 20; i++) {
    const r = await send(h.port, { headers: { "x-user-id": `down-${i}` } });
    assert.equal(r.status, 200);
    assert.equal(r.json().member, ownerNow(h, `down-${i}`));
  }
  const text = await h.registry.metrics();
  assert.match(text, /shardgate_store_errors_total\{feature="affinity"\} (1\d|20)/);
  await own.stop();
});
