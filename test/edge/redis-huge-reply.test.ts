// A hostile or broken Redis answering a cache lookup with a reply that never ends (a bulk
// string or an array announced as 1e9 bytes or elements and then streamed, a line without end),
// seen from outside a real shardgate process. Before, ioredis's decoder kept every byte: the
// fake Redis wrote its whole cap (128 MiB) into one connection and the proxy's RSS grew with it
// (24 MiB of array elements took a plain ioredis client to ~450 MiB RSS). Now the reply bound
// (proxy/redis/reply-bound.ts, `redis.maxReplyBytes`) drops the connection: the fake manages a
// few MiB per connection, RSS stays flat, every request is still answered (a cache miss from the
// upstream, as with Redis down), the drop is counted and logged once per episode.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { type EndlessReply, HostileRedis } from "../support/hostile-redis.js";
import { metricValue, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const TOKEN = "redis-huge-reply-admin-token-0123456789";
const MIB = 1024 * 1024;
/** What the fake writes into one connection at most: an array's elements cost the old decoder ~20x in memory. */
const CAPS: Record<EndlessReply, number> = { bulk: 128 * MIB, line: 128 * MIB, array: 64 * MIB };
/**
 * What the fake may write into one connection before the proxy drops it: the 4 MiB bound plus
 * what the kernel buffers on both sides of a loopback connection (tcp_rmem's maximum is 32 MiB
 * on some hosts, tcp_wmem's 4 MiB). Measured: 2-10 MiB per connection.
 */
const PER_CONNECTION = 48 * MIB;
let upstream: Server;
let upstreamPort = 0;

before(async () => {
  upstream = createServer((req, res) => res.end(`origin ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
after(async () => {
  await stopAll();
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
redis: { url: "${url}", commandTimeout: 250ms, breaker: { failures: 100, openFor: 100ms } }
routes:
  - match: { host: "*", pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: 1mb }
`;
}

async function metrics(sg: RunningShardgate): Promise<string> {
  const res = await fetch(`${sg.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return res.text();
}

async function rss(sg: RunningShardgate): Promise<number> {
  const v = metricValue(await metrics(sg), "shardgate_process_resident_memory_bytes", {});
  assert.ok(v !== undefined, "the proxy exports its RSS");
  return v;
}

for (const kind of ["bulk", "array", "line"] as EndlessReply[]) {
  test(`an endless ${kind} reply drops the Redis connection; memory stays bounded and requests are served`, {
    timeout: 180_000,
  }, async (t) => {
    const CAP = CAPS[kind];
    const redis = await new HostileRedis(kind, CAP).start();
    t.after(() => redis.close());
    const sg = await startShardgate(config(redis.url));
    t.after(() => sg.stop());
    const rssBefore = await rss(sg);
    // Requests until the fake has had two connections to flood (the first dropped, the client
    // reconnected) or has written its whole cap into one; bounded in count and time.
    for (let i = 0; i < 60 && redis.replies < 2 && redis.written < CAP; i++) {
      const t0 = performance.now();
      const res = await fetch(`${sg.httpUrl}/static/s/${kind}${i}`, {
        signal: AbortSignal.timeout(scaled(20_000)),
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `origin /static/s/${kind}${i}`);
      const ms = performance.now() - t0;
      assert.ok(ms < scaled(5_000), `request ${i} took ${Math.round(ms)} ms`);
      // The next request only meets a hostile reply on a new connection: wait for this one's
      // flood to be dropped and the client to have connected again (not for a deadline: a
      // request meets no new reply until then, so waiting for one always ran out).
      if (redis.replies < 2 && redis.written < CAP)
        await eventually("the flood to end or another connection", () =>
          redis.written >= CAP ||
          redis.replies >= 2 ||
          (redis.repliesEnded >= redis.replies && redis.connections > redis.replies) ||
          sg.proc.exit !== undefined
            ? true
            : undefined,
        ).catch(() => undefined);
    }
    assert.equal(sg.proc.exit, undefined, "the proxy is alive");
    const perConnection = redis.written / Math.max(redis.replies, 1);
    assert.ok(
      perConnection < PER_CONNECTION && redis.written < CAP,
      `the proxy took ${(redis.written / MIB).toFixed(1)} MiB over ${redis.replies} hostile replies`,
    );
    const grown = (await rss(sg)) - rssBefore;
    t.diagnostic(
      `${kind}: ${(redis.written / MIB).toFixed(2)} MiB written over ${redis.replies} hostile replies, RSS ${(grown / MIB).toFixed(1)} MiB`,
    );
    assert.ok(grown < 64 * MIB, `RSS grew ${(grown / MIB).toFixed(1)} MiB`);
    const text = await metrics(sg);
    const dropped = metricValue(text, "shardgate_store_replies_too_large_total", {}) ?? 0;
    assert.ok(dropped >= 1, `counted ${dropped} dropped connections`);
    const line = await sg.proc.waitForLine(
      "a redis unavailable line naming maxReplyBytes",
      (l) => l.msg?.startsWith("redis unavailable") === true && /maxReplyBytes|too large/.test(String(l.err)),
    );
    assert.match(String(line.level), /warn|40/);
    const lines = sg.proc.lines.filter((l) => /maxReplyBytes|too large/.test(String(l.err)));
    assert.ok(
      lines.length <= 2,
      `logged ${lines.length} times:\n${lines.map((l) => JSON.stringify(l)).join("\n")}`,
    );
    const last = await fetch(`${sg.httpUrl}/static/s/after-${kind}`);
    assert.equal(last.status, 200, "still serving");
  });
}
