// A set `redis.maxReplyBytes` is only checked against the file it is in (config/file/cross-check.ts),
// and the redis section is read once at start: a reload that raises a route's cache.maxBytes
// together with maxReplyBytes is valid (restartRequired: redis), so the routing takes 8 MiB
// entries while the running bound stays the old 5 MiB. Every 6 MiB entry was then stored and
// never served, each read dropping the Redis connection (and every command in flight on it).
// A committed routing from a peer with a larger cache does the same, unchecked. Now the bound is
// never below what the routing in use needs. A real process, a real redis-server, an upstream
// answering a 6 MiB cacheable body: after the reload a repeat is a HIT and no reply was too large.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { repeatUntilHit } from "../support/cache-hit-repeat.js";
import {
  type CacheableBodyUpstream,
  startCacheableBodyUpstream,
} from "../support/cacheable-body-upstream.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { fetchJson, metricValue, startShardgate, stopAll } from "../support/shardgate-process.js";

const TOKEN = "reply-bound-set-follows-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const BODY = Buffer.alloc(6 * 1024 * 1024, 0x62);
let upstream: CacheableBodyUpstream;
let redis: RedisServer;

before(async () => {
  redis = await startRedis();
  upstream = await startCacheableBodyUpstream(BODY);
});
after(async () => {
  await stopAll();
  upstream.close();
  await stopAllRedis();
});

function config(maxBytes: string, maxReplyBytes: string): string {
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
admin: { token: ${TOKEN} }
pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:${upstream.port}" }
redis: { url: "${redis.url}", keyPrefix: "rbs:", commandTimeout: 3s, maxReplyBytes: ${maxReplyBytes} }
routes:
  - match: { host: "*", pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: ${maxBytes} }
`;
}

test("a reload raising cache.maxBytes and a set maxReplyBytes: a 6 MiB entry is served from the cache", {
  timeout: 180_000,
}, async (t) => {
  const sg = await startShardgate(config("1mb", "5mb"));
  t.after(() => sg.stop());
  sg.config.write(config("8mb", "9mb"));
  const r = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((r.body as { restartRequired: string[] }).restartRequired, ["redis"], r.text);
  const seen = await repeatUntilHit(`${sg.httpUrl}/static/big`, BODY.length, "a HIT for the 6 MiB entry");
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`, { headers: AUTH })).text();
  assert.equal(metricValue(metrics, "shardgate_store_replies_too_large_total", {}), 0, seen.join(" "));
});
