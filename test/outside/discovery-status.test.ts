// The discovery watchers' status in /admin/state (`pools.P.discovery`), read from a real
// shardgate process watching the Consul double and the Kubernetes API double: where the
// members come from, consecutive errors, the last error's text and time, the last good
// answer, Consul index resets and Kubernetes 410 re-lists. Before, these figures lived only
// inside the watchers: /admin/state showed the members and nothing of the watch, so an
// operator who saw shardgate_discovery_errors_total climb could not tell why or since when.
// The streak is also a gauge, shardgate_discovery_consecutive_errors{pool,source}, for an alert
// on errors with no success (a counter cannot tell a slow streak from a healed blip).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { AdminDiscoveryView } from "../../proxy/admin/types.js";
import { ConsulDouble } from "../support/consul-double.js";
import { registerService } from "../support/consul-double-register.js";
import { kubeServingApp } from "../support/kube-app-double.js";
import { seedNote, testSeed } from "../support/prng.js";
import { metricValue, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const seed = testSeed(20_261_210);
const note = seedNote(seed);
const dir = mkdtempSync(join(tmpdir(), "shardgate-discovery-status-"));
const closers: Array<() => Promise<unknown>> = [];
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await closeAll(ups);
  rmSync(dir, { recursive: true, force: true });
});

type Pools = Record<string, { discovery?: AdminDiscoveryView }>;

async function pools(sg: RunningShardgate): Promise<Pools> {
  const res = await fetch(`${sg.adminUrl}/admin/state`, { signal: AbortSignal.timeout(scaled(10_000)) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { pools: Pools }).pools;
}

/** Waits until `pred` holds of pool `pool`'s discovery view; returns that view. */
function discoveryOf(
  sg: RunningShardgate,
  pool: string,
  what: string,
  pred: (d: AdminDiscoveryView) => boolean,
): Promise<AdminDiscoveryView> {
  let last: AdminDiscoveryView | undefined;
  return eventually(
    what,
    async () => {
      last = (await pools(sg))[pool]?.discovery;
      return last !== undefined && pred(last) ? last : undefined;
    },
    60_000,
    200,
  ).catch((err: unknown) =>
    assert.fail(`${String(err)}; last ${JSON.stringify(last)}\n${sg.proc.output()}\n${note}`),
  );
}

/** Waits until shardgate_discovery_consecutive_errors{pool,source} satisfies `pred`. */
function streak(
  sg: RunningShardgate,
  pool: string,
  source: string,
  what: string,
  pred: (v: number) => boolean,
): Promise<number> {
  return eventually(
    what,
    async () => {
      const res = await fetch(`${sg.adminUrl}/metrics`, { signal: AbortSignal.timeout(scaled(10_000)) });
      const v = metricValue(await res.text(), "shardgate_discovery_consecutive_errors", { pool, source });
      return v !== undefined && pred(v) ? v : undefined;
    },
    60_000,
    200,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.proc.output()}\n${note}`));
}

function time(iso: string | undefined): number {
  const t = Date.parse(String(iso));
  assert.ok(Number.isFinite(t), `not an ISO time: ${String(iso)}`);
  return t;
}

test("/admin/state shows each discovered pool's watch: errors and since when, last success, index resets, 410 re-lists", {
  timeout: 240_000,
}, async (t) => {
  ups = await startUpstreams(2, "ds");
  const consul = await ConsulDouble.create({ seed });
  closers.push(() => consul.close());
  await registerService(consul, "c1", "status-api", ups[0].port);
  const kube = await kubeServingApp(ups[1].port);
  closers.push(() => kube.close());
  const kubeconfig = kube.writeKubeconfig(join(dir, "kubeconfig"));
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
discovery:
  consul: { address: "http://${consul.address}", wait: 2s }
pools:
  api:
    discovery: { consul: { service: status-api } }
  app:
    discovery: { kubernetes: { service: app, namespace: default, port: http, kubeconfig: ${kubeconfig} } }
  fixed:
    members:
      - { id: f1, address: "127.0.0.1:${ups[0].port}" }
routes:
  - { match: { pathPrefix: /app }, pool: app, key: [header:x-k] }
  - { match: { pathPrefix: /fixed }, pool: fixed, key: [header:x-k] }
  - { match: { pathPrefix: / }, pool: api, key: [header:x-k] }
`,
  );
  closers.push(() => sg.stop());
  t.after(() => consul.setFailure(undefined));

  // Healthy: both watches synced, no errors, a last success; a static pool has no such part.
  const api = await discoveryOf(sg, "api", "the consul watch synced", (d) => d.synced === true);
  assert.equal(api.source, "consul");
  assert.equal(api.service, "status-api");
  assert.equal(api.watching, true);
  assert.equal(api.consecutiveErrors, 0);
  assert.equal(api.indexResets, 0);
  const firstSuccess = time(api.lastSuccessAt);
  const app = await discoveryOf(sg, "app", "the kubernetes watch synced", (d) => d.synced === true);
  assert.equal(app.source, "kubernetes");
  assert.equal(app.service, "default/app");
  assert.equal(app.consecutiveErrors, 0);
  assert.equal(app.gone, 0);
  time(app.lastSuccessAt);
  assert.equal((await pools(sg)).fixed?.discovery, undefined);

  // The agent fails: the streak, its error text and its time.
  consul.setFailure(500, "No cluster leader");
  const failing = await discoveryOf(
    sg,
    "api",
    "a streak of consul errors",
    (d) => (d.consecutiveErrors ?? 0) >= 2,
  );
  assert.match(String(failing.lastError), /HTTP 500.*No cluster leader/);
  assert.ok(time(failing.lastErrorAt) >= firstSuccess, JSON.stringify(failing));
  // The same streak as a gauge, for the alert on errors with no success
  // (shardgate_discovery_consecutive_errors; ShardgateDiscoveryFailing).
  await streak(sg, "api", "consul", "the streak gauge above 1", (v) => v >= 2);
  // Recovery: the streak ends, the last success is newer than the last error.
  consul.setFailure(undefined);
  const back = await discoveryOf(sg, "api", "the consul watch recovered", (d) => d.consecutiveErrors === 0);
  assert.ok(time(back.lastSuccessAt) >= time(back.lastErrorAt), JSON.stringify(back));
  assert.match(String(back.lastError), /HTTP 500/, "the last error is kept after recovery");
  await streak(sg, "api", "consul", "the streak gauge back to 0", (v) => v === 0);
  await streak(sg, "app", "kubernetes", "the kubernetes streak gauge at 0", (v) => v === 0);

  // The sources make the watchers start over: counted per pool.
  consul.setIndexBackwards(2);
  await discoveryOf(sg, "api", "the index reset shown", (d) => (d.indexResets ?? 0) >= 1);
  kube.expireWatches();
  await discoveryOf(sg, "app", "the 410 re-list shown", (d) => (d.gone ?? 0) >= 1);
});
