// `shardgate_store_up` with `workers: 2`: each worker has its own Redis client and its own
// gauge, and the primary's /metrics reports the minimum (0 while any process cannot use Redis),
// one sample, never the sum of the workers' ones. Not covered with workers before. A real
// redis-server killed and restarted on its port under a real process: 1, then 0 with requests
// still answered (onStoreError: open), then 1 again once Redis is back. Checked: with the
// gauge's aggregator changed to "sum" this test fails (2 while Redis is up).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { startRedis, stopAllRedis } from "../support/redis-server.js";
import { fetchJson, metricLines, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, getOnFreshConnection } from "../support/workers.js";

after(async () => {
  await stopAll();
  await stopAllRedis();
});

async function storeUp(adminUrl: string): Promise<string[]> {
  const r = await fetchJson(`${adminUrl}/metrics`);
  assert.equal(r.status, 200);
  return metricLines(r.text, "shardgate_store_up");
}

test("workers: 2, shardgate_store_up is one sample, the workers' minimum, through a Redis outage", async (t) => {
  const redis = await startRedis();
  const ups = await startUpstreams(2, "s");
  t.after(() => closeAll(ups));
  const base = poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) });
  const yaml = `redis: { url: ${redis.url}, keyPrefix: "sgtest:", commandTimeout: 250ms }\n${base.replace(
    /(key: \[[^\]]*\]\n)/,
    "$1    rateLimit: { limit: 100000, window: 1s, store: redis, onStoreError: open }\n",
  )}`;
  assert.match(yaml, /rateLimit:/);
  const sg = await startShardgate(yaml, { args: ["--workers", "2"], timeoutMs: 60_000 });
  t.after(() => sg.stop());
  await allWorkersAt(sg, 2, 1);

  const sendSome = async (tag: string) => {
    for (let i = 0; i < 10; i++) {
      const r = await getOnFreshConnection(sg.httpUrl, "/", `${tag}${i}`);
      assert.equal(r.status, 200, `request ${tag}${i}`);
    }
  };
  const sampleIs = (want: string, tag: string) =>
    eventually(
      `shardgate_store_up ${want}`,
      async () => {
        await sendSome(tag);
        const lines = await storeUp(sg.adminUrl);
        return lines.length === 1 && lines[0] === `shardgate_store_up ${want}` ? lines : undefined;
      },
      60_000,
      200,
    );

  await sampleIs("1", "up");
  await redis.kill();
  await sampleIs("0", "down");
  await redis.start(redis.port);
  await sampleIs("1", "back");
});
