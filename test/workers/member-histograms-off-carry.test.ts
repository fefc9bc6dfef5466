// With `workers: 2`, an accepted reload of `metrics.memberHistograms: off` reaches every worker,
// and each drops its per-member histograms at the next scrape. The counters and histograms of a
// worker that died are carried on by the primary (metrics-carry.ts) so totals never go
// backwards; that carried part kept the dead worker's per-member histograms, and the instance
// went on exporting them after "off" (a single process stops at its next scrape). A real
// process on loopback: both workers serve, a scrape, worker 0 is killed, the reload turns member
// histograms off: the scrape after it must have none.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { fetchJson, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, spreadUntilPids, workerViews } from "../support/workers.js";

after(() => stopAll());

/** Requests sent until both workers answered some (the kernel picks the accepting worker). */
const MAX_REQUESTS = 400;

const histogramCounts = (text: string): string[] =>
  text.split("\n").filter((l) => l.startsWith("shardgate_member_request_duration_seconds_count"));

test("workers: 2, memberHistograms off drops the histograms a dead worker left behind", async (t) => {
  const ups = await startUpstreams(2, "h");
  t.after(() => closeAll(ups));
  const running = poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) });
  const sg = await startShardgate(running, { args: ["--workers", "2"], timeoutMs: 60_000 });
  t.after(() => sg.stop());
  await allWorkersAt(sg, 2, 1);
  const scrape = async (): Promise<string> => {
    const r = await fetchJson(`${sg.adminUrl}/metrics`);
    assert.equal(r.status, 200);
    return r.text;
  };

  await spreadUntilPids(sg, (i) => `k${i}`, 2, MAX_REQUESTS, 0);
  // The scrape that leaves each worker's histograms with the primary (its last answer).
  assert.ok(histogramCounts(await scrape()).length > 0, "no member histogram before the reload");

  const old = (await workerViews(sg))[0].pid;
  assert.ok(old !== null, "worker 0 has no pid");
  process.kill(old, "SIGKILL");
  await eventually(
    "worker 0 up under a new pid",
    async () => {
      const v = (await workerViews(sg))[0];
      return v.pid !== null && v.pid !== old ? v : undefined;
    },
    60_000,
    100,
  );
  await allWorkersAt(sg, 2, 1);

  sg.config.write(`${running}metrics:\n  memberHistograms: "off"\n`);
  const from = sg.proc.lines.length;
  sg.proc.signal("SIGHUP");
  await sg.proc.waitFor("the accepted reload", () =>
    sg.proc.lines.slice(from).find((l) => l.msg === "config reloaded"),
  );
  assert.deepEqual(histogramCounts(await scrape()), [], "member histograms exported after the reload");
});
