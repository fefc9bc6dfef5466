// An outside try on memory: an affinity pin in Redis that is not a member id but a huge value
// (written by anything else with access to the Redis). Before, the pin script read it with GET
// and sent it whole to the instance (and the instance sent it back as the "seen" pin of its
// re-pin): 2 x 16 MiB through Redis per such key. Now a stored pin over PIN_MAX bytes is
// replaced as if absent, inside the script: Redis sends under 64 KiB for all the tries (its own
// counter, total_net_output_bytes), each request is routed to a member, and the key then holds
// a member id again.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { storeKey } from "../../proxy/redis/store-key.js";
import { startEdgeHarness } from "../edge/edge-harness.js";
import { send } from "../proxy/harness.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => stopAllRedis());

const PLANTED = 16 * 1024 * 1024;
const TRIES = 3;

async function sentByRedis(admin: Redis): Promise<number> {
  const m = /total_net_output_bytes:(\d+)/.exec(await admin.info("stats"));
  assert.ok(m, "redis INFO stats has total_net_output_bytes");
  return Number(m[1]);
}

test("an oversized affinity pin is replaced without being read; the request is routed", {
  timeout: 120_000,
}, async (t) => {
  let ids: string[] = [];
  const h = await startEdgeHarness({
    members: 2,
    redisUrl: redis.url,
    redis: { keyPrefix: "pin:" },
    config: (members): ShardgateConfigInput => {
      ids = members.map((m) => m.id);
      return {
        pools: { users: { members } },
        routes: [{ pool: "users", key: ["header:x-user-id"], affinity: { store: "redis", ttl: "10m" } }],
      };
    },
  });
  t.after(() => h.close());
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  t.after(() => admin.quit());
  const filler = Buffer.alloc(PLANTED, "m");
  let sent = 0;
  for (let i = 0; i < TRIES; i++) {
    // A fresh user each time: no local copy of a pin stands in front of the store.
    const user = `huge-pin-${i}`;
    const key = `pin:${storeKey("aff", `users|${user}`)}`;
    await admin.set(key, filler);
    const before = await sentByRedis(admin);
    const r = await send(h.port, { headers: { "x-user-id": user } });
    sent += (await sentByRedis(admin)) - before;
    assert.equal(r.status, 200, r.text);
    assert.ok(ids.includes(r.json().member), `routed to a member: ${r.text}`);
    const now = await admin.get(key);
    assert.ok(now !== null && ids.includes(now), `the pin holds a member id again (${now?.length} bytes)`);
  }
  assert.ok(sent < 64 * 1024, `redis sent ${sent} bytes for ${TRIES} pins of ${PLANTED} bytes`);
});
