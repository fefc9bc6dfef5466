// shardgate_member_requests_in_flight with `workers: 2`: the primary's /metrics sums its own
// registry and each worker's (prom-client's aggregator), and since e0a202a every registry
// writes a 0 for each member. Checked here on a real process: idle, one sample per member, each
// 0 (not missing, not one per process); with requests held open on one member from both
// workers, that member's sample is the number held (summed over the workers, not counted twice
// and not one worker's share), the idle member stays 0, and it is 0 again once they are gone.

import assert from "node:assert/strict";
import { type ClientRequest, request } from "node:http";
import { test } from "node:test";
import { seedNote, testSeed } from "../support/prng.js";
import {
  fetchJson,
  metricLines,
  metricValue,
  poolConfig,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, workerViews } from "../support/workers.js";

const SEED = testSeed(2026);
const METRIC = "shardgate_member_requests_in_flight";

async function scrape(adminUrl: string): Promise<string> {
  const r = await fetchJson(`${adminUrl}/metrics`);
  assert.equal(r.status, 200);
  return r.text;
}

test("workers: 2, member in-flight: 0 per idle member once, held requests summed over workers", async (t) => {
  const ups = await startUpstreams(2, "wf");
  t.after(() => closeAll(ups));
  const sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
    { args: ["--workers", "2"], timeoutMs: 60_000 },
  );
  t.after(async () => {
    await sg.stop();
    await stopAll();
  });
  await allWorkersAt(sg, 2, 1);

  const idle = await eventually(
    "every member has a shardgate_member_healthy sample",
    async () => {
      const text = await scrape(sg.adminUrl);
      return ups.every(
        (u) => metricValue(text, "shardgate_member_healthy", { pool: "users", member: u.id }) !== undefined,
      )
        ? text
        : undefined;
    },
    30_000,
  );
  assert.equal(metricLines(idle, METRIC).length, ups.length, metricLines(idle, METRIC).join("\n"));
  for (const u of ups)
    assert.equal(
      metricValue(idle, METRIC, { pool: "users", member: u.id }),
      0,
      metricLines(idle, METRIC).join("\n"),
    );

  // Keys owned by the first member; its answers are held, so each request stays in flight.
  const [busy, quiet] = ups;
  busy.mode = { kind: "delayHeaders", ms: 120_000 };
  const keys: string[] = [];
  for (let i = 0; keys.length < 40 && i < 2_000; i++) {
    const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=held-${SEED}-${i}`);
    if ((r.body as { member: string }).member === busy.id) keys.push(`held-${SEED}-${i}`);
  }
  assert.equal(keys.length, 40, seedNote(SEED));
  const held: ClientRequest[] = [];
  t.after(() => {
    for (const r of held) r.destroy();
  });
  const proxied = () => busy.requests - busy.healthProbes;
  const base = proxied();
  // Fresh connections in groups of 4 until both workers hold some (every worker accepts on the
  // shared socket, so one may take the first several); at most the 40 keys.
  const views = await eventually(
    "both workers hold a request in flight",
    async () => {
      if (held.length < keys.length)
        for (const key of keys.slice(held.length, held.length + 4)) {
          const req = request(`${sg.httpUrl}/`, { agent: false, headers: { "x-user-id": key } });
          req.on("error", () => {});
          req.end();
          held.push(req);
        }
      const v = await workerViews(sg);
      return proxied() - base === held.length && v.every((w) => w.inFlight > 0) ? v : undefined;
    },
    60_000,
    200,
  );
  const text = await scrape(sg.adminUrl);
  const lines = metricLines(text, METRIC).join("\n");
  assert.equal(metricLines(text, METRIC).length, ups.length, lines);
  assert.equal(
    metricValue(text, METRIC, { pool: "users", member: busy.id }),
    held.length,
    `${seedNote(SEED)} workers ${JSON.stringify(views)}\n${lines}`,
  );
  assert.equal(metricValue(text, METRIC, { pool: "users", member: quiet.id }), 0, lines);

  for (const r of held) r.destroy();
  await eventually(
    "the held requests leave the gauge",
    async () => {
      const after = await scrape(sg.adminUrl);
      return metricValue(after, METRIC, { pool: "users", member: busy.id }) === 0 ? after : undefined;
    },
    60_000,
    200,
  );
});
