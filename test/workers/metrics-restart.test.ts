// With `workers: 2`, the primary's /metrics sums the workers' registries; a worker killed and
// restarted used to start its counters from zero, so the instance's totals went backwards
// (200 requests: 106 + 94 became 47 + 53 after one worker was killed), which Prometheus takes
// for a counter reset and turns into a false burst. The counters of a worker that is gone are
// now carried on (proxy/workers/metrics-carry.ts). A real process on loopback: requests, a
// scrape, each worker killed in turn (one of them served some) and restarted, then the totals
// are the same series with the same values, promtool accepts the exposition, and the next
// requests add exactly their number.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { fetchJson, metricValue, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, getOnFreshConnection, workerViews } from "../support/workers.js";

after(() => stopAll());

/** `shardgate_requests_total`'s samples, by their label text. */
function requestTotals(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^shardgate_requests_total(\{[^}]*\}) (\S+)$/.exec(line);
    if (m !== null) out.set(m[1], Number(m[2]));
  }
  return out;
}

function sum(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

async function scrape(adminUrl: string): Promise<string> {
  const r = await fetchJson(`${adminUrl}/metrics`);
  assert.equal(r.status, 200);
  return r.text;
}

async function send(httpUrl: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await getOnFreshConnection(httpUrl, "/", `${tag}${i}`);
    assert.equal(r.status, 200);
  }
}

test("workers: 2, a restarted worker's counters do not take the instance's totals backwards", async (t) => {
  const ups = await startUpstreams(2, "c");
  t.after(() => closeAll(ups));
  const sg = await startShardgate(poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) }), {
    args: ["--workers", "2"],
    timeoutMs: 60_000,
  });
  t.after(() => sg.stop());
  await allWorkersAt(sg, 2, 1);

  const N = 60;
  await send(sg.httpUrl, N, "a");
  const before = requestTotals(await scrape(sg.adminUrl));
  assert.equal(sum(before), N, [...before].join("\n"));

  for (const w of [0, 1]) {
    const old = (await workerViews(sg))[w].pid;
    assert.ok(old !== null);
    process.kill(old, "SIGKILL");
    await eventually(
      `worker ${w} restarted under a new pid`,
      async () => {
        const v = (await workerViews(sg))[w];
        return v.pid !== null && v.pid !== old && v.restarts === 1 ? v : undefined;
      },
      60_000,
      100,
    );
    await sg.proc.waitForLine(
      `worker ${w} listening again`,
      (l) => l.msg === "worker restarted" && l.worker === w,
      60_000,
    );
  }
  await allWorkersAt(sg, 2, 1);

  const text = await scrape(sg.adminUrl);
  assert.equal(metricValue(text, "shardgate_worker_restarts_total", {}), 2);
  assert.deepEqual(requestTotals(text), before, "the totals changed with no request sent");
  const lint = await promtoolCheckMetrics(text);
  assert.equal(lint.code, 0, lint.out);

  const M = 20;
  await send(sg.httpUrl, M, "b");
  const later = requestTotals(await scrape(sg.adminUrl));
  assert.equal(sum(later), N + M, [...later].join("\n"));
  for (const [labels, v] of before)
    assert.ok((later.get(labels) ?? 0) >= v, `${labels} went from ${v} to ${later.get(labels)}`);
});
