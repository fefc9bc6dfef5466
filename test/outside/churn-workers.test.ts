// Churn, tried from outside, with `workers: 2`: a worker that restarts and members that a
// reload replaces must not leave the gone members' series in the instance's /metrics. The
// primary carries a dead worker's counters on (so totals never go backwards:
// proxy/workers/metrics-carry.ts); those carried counters held the series of every member,
// pool and route the dead worker had served, and kept exporting them after a reload removed
// those members: one set per member that was current when some worker died, for the life of
// the primary. A real process, real upstreams on loopback: traffic, a scrape, a worker killed
// and restarted, a reload to fresh members (and a fresh route), traffic, then no series may
// name a member or route that the config no longer has, and the primary's live figures keep
// no window for a gone member (they were pruned only when /admin/live was read).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { heapObjectCounts, INSPECT_ENV, inspectorUrl } from "../support/inspector-heap.js";
import { seedNote, testSeed } from "../support/prng.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { labelValues } from "../support/series-labels.js";
import { fetchJson, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, getOnFreshConnection, workerViews } from "../support/workers.js";

const seed = testSeed(20_261_210);
const note = seedNote(seed);
const TOKEN = "churn-workers-token";
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  await closeAll(ups);
});

function config(members: readonly EchoUpstream[], prefix: string): string {
  return poolConfig({
    members: members.map((u) => ({ id: u.id, port: u.port })),
    token: TOKEN,
    accessLog: false,
  })
    .replace("pathPrefix: / }", `pathPrefix: ${prefix} }`)
    .concat(`  - match: { pathPrefix: / }\n    pool: users\n    key: [header:x-user-id]\n`);
}

test("workers: 2, a restarted worker's carried counters do not keep the series of members a reload removed", async () => {
  ups = await startUpstreams(4, "cw");
  const [oldA, oldB, newA, newB] = ups;
  const sg = await startShardgate(config([oldA, oldB], "/old"), {
    args: ["--workers", "2"],
    timeoutMs: 60_000,
    // The workers inherit it (each on a port of its own); the first URL printed is the primary's.
    env: INSPECT_ENV,
  });
  const url = await inspectorUrl(() => sg.proc.stderr);
  await allWorkersAt(sg, 2, 1);
  const send = async (path: string, tag: string): Promise<void> => {
    for (let i = 0; i < 40; i++) {
      const r = await getOnFreshConnection(sg.httpUrl, path, `${tag}${i}`);
      assert.equal(r.status, 200, `${path}\n${note}`);
    }
  };
  const scrape = async (): Promise<string> => {
    const r = await fetchJson(`${sg.adminUrl}/metrics`);
    assert.equal(r.status, 200);
    return r.text;
  };
  await send("/old/x", "a");
  const first = await scrape();
  for (const id of [oldA.id, oldB.id])
    assert.ok(labelValues(first, "member").has(id), `series for ${id} before the churn\n${note}`);
  assert.ok(labelValues(first, "route").has("*/old"), `series for route */old before the churn\n${note}`);

  // A worker dies and is restarted: its counters (for the old members) are carried on.
  const old = (await workerViews(sg))[0].pid;
  assert.ok(old !== null);
  process.kill(old, "SIGKILL");
  await eventually(
    "worker 0 restarted under a new pid",
    async () => {
      const v = (await workerViews(sg))[0];
      return v.pid !== null && v.pid !== old && v.restarts === 1 ? v : undefined;
    },
    60_000,
    100,
  );
  await allWorkersAt(sg, 2, 1);
  await scrape();

  // A reload replaces the members and the route.
  sg.config.write(config([newA, newB], "/new"));
  const r = await fetch(`${sg.adminUrl}/admin/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const reloaded = (await r.json()) as { ringVersion?: number };
  assert.equal(r.status, 200, `reload: ${JSON.stringify(reloaded)}\n${note}`);
  await allWorkersAt(sg, 2, reloaded.ringVersion ?? 0);
  await send("/new/x", "b");
  const text = await scrape();
  const lint = await promtoolCheckMetrics(text);
  assert.equal(lint.code, 0, lint.out);
  const members = [...labelValues(text, "member")].filter((m) => m !== "none" && m !== "removed").sort();
  const routes = [...labelValues(text, "route")].filter((m) => m !== "none" && m !== "removed").sort();
  assert.deepEqual(
    { members, routes },
    { members: [newA.id, newB.id].sort(), routes: ["*/new"] },
    `series after the reload name only what the config has\n${note}`,
  );
  // The primary's live figures (/admin/live, never read here) keep a window per member that
  // served through a worker: the current members' and one shared placeholder, none for gone ones.
  let windows = -1;
  await eventually(
    "no live window for a gone member on the primary",
    async () => {
      windows = (await heapObjectCounts(url, ["LiveWindow"])).LiveWindow;
      return windows <= 3 ? true : undefined;
    },
    30_000,
    1_000,
  ).catch(() => assert.fail(`${windows} LiveWindow objects on the primary for 2 current members\n${note}`));
});
