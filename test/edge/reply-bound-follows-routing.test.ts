// With `redis.maxReplyBytes` left out, the Redis reply bound is what the largest route cache
// needs (cache.maxBytes + the entry's head and framing, at least 4 MiB). It was worked out once,
// from the file at start: a reload raising a route's cache.maxBytes to 8 MiB left it at 4 MiB, so
// every entry over ~3.7 MiB was stored and then never served (each read dropped the Redis
// connection: a MISS, counted in store_replies_too_large_total). Now the bound follows the
// routing in use. A real process, a real redis-server, an upstream answering a 6 MiB cacheable
// body: after the reload, a repeat of the request is a HIT and no reply was too large.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { repeatUntilHit } from "../support/cache-hit-repeat.js";
import {
  type CacheableBodyUpstream,
  startCacheableBodyUpstream,
} from "../support/cacheable-body-upstream.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { fetchJson, metricValue, startShardgate, stopAll } from "../support/shardgate-process.js";

const TOKEN = "reply-bound-follows-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const BODY = Buffer.alloc(6 * 1024 * 1024, 0x61);
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

function config(maxBytes: string): string {
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
admin: { token: ${TOKEN} }
pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:${upstream.port}" }
redis: { url: "${redis.url}", keyPrefix: "rbf:", commandTimeout: 3s }
routes:
  - match: { host: "*", pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: ${maxBytes} }
`;
}

test("a reload raising cache.maxBytes raises the reply bound: a 6 MiB entry is served from the cache", {
  timeout: 180_000,
}, async (t) => {
  const sg = await startShardgate(config("1mb"));
  t.after(() => sg.stop());
  sg.config.write(config("8mb"));
  const r = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
  assert.equal(r.status, 200, r.text);
  const seen = await repeatUntilHit(`${sg.httpUrl}/static/big`, BODY.length, "a HIT for the 6 MiB entry");
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`, { headers: AUTH })).text();
  assert.equal(metricValue(metrics, "shardgate_store_replies_too_large_total", {}), 0, seen.join(" "));
});
