// Churn, tried from outside: pools and routes that reloads add and remove must leave nothing
// behind in /metrics. A real shardgate process serves three pools (one static with cookie
// affinity on its route, one discovered through the Consul double, one kept), takes traffic on
// each, counts a not-owner decision (a drained member) and discovery errors (the double
// answers 500), then a reload removes two pools and their routes; repeated over fresh pool
// and route names, the scrape must name only what the config has now.
// Found: shardgate_affinity_total / rate_limit_decisions_total / cache_requests_total /
// cache_bytes_total{route} of a removed route, shardgate_requests_not_owner_total{pool} of a
// removed pool and shardgate_discovery_errors_total / _consecutive... {pool} of a removed
// discovered pool stayed in every scrape until restart: one set per pool or route ever
// configured (the per-member and per-route request series already went: README, Metrics).
// Also checked, and already so: the removed pools' Consul watchers stop (the double holds no
// blocking query for their services; no ConsulWatcher object is left on the heap, counted in a
// heap snapshot taken over the inspector).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ConsulDouble } from "../support/consul-double.js";
import { registerService } from "../support/consul-double-register.js";
import { heapObjectCounts, INSPECT_ENV, inspectorUrl } from "../support/inspector-heap.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { labelValues, seriesWith } from "../support/series-labels.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const seed = testSeed(20_261_206);
const note = seedNote(seed);
const random = seededRandom(seed);
const TOKEN = "churn-reload-token";
/**
 * Reloads: the first swaps the round's pools and routes for fresh ones, the last removes them
 * all but `keep`. Two cover both (the first version ran three: a middle swap like the first).
 */
const ROUNDS = 2;
const ups: EchoUpstream[] = [];
let consul: ConsulDouble | undefined;

after(async () => {
  await stopAll();
  await consul?.close();
  await closeAll(ups);
});

function config(round: number, consulAddress: string, keepPort: number, a: number, b: number): string {
  const tail = `
  - { match: { pathPrefix: / }, pool: keep, key: [header:x-k] }
`;
  const churned =
    round < 0
      ? ""
      : `
  s${round}:
    members:
      - { id: s${round}a, address: "127.0.0.1:${a}" }
      - { id: s${round}b, address: "127.0.0.1:${b}" }
  d${round}:
    discovery: { consul: { service: churn-d${round} } }`;
  const churnedRoutes =
    round < 0
      ? ""
      : `
  - match: { pathPrefix: /s${round} }
    pool: s${round}
    key: [header:x-k]
    affinity: { cookie: { name: aff${round} } }
  - { match: { pathPrefix: /d${round} }, pool: d${round}, key: [header:x-k] }`;
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "${TOKEN}" }
log: { level: info, accessLog: false }
discovery:
  consul: { address: "http://${consulAddress}", wait: 1s }
pools:
  keep:
    members:
      - { id: k1, address: "127.0.0.1:${keepPort}" }${churned}
routes:${churnedRoutes}${tail}`;
}

function output(sg: RunningShardgate): string {
  return `${sg.proc.output()}\n${note}`;
}

async function admin(
  sg: RunningShardgate,
  method: string,
  path: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${sg.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(scaled(15_000)),
  });
  return { status: res.status, text: await res.text() };
}

async function get(sg: RunningShardgate, path: string, key: string): Promise<number> {
  const res = await fetch(`${sg.httpUrl}${path}`, {
    headers: { "x-k": key },
    signal: AbortSignal.timeout(scaled(15_000)),
  });
  await res.arrayBuffer();
  return res.status;
}

async function scrape(sg: RunningShardgate): Promise<string> {
  const m = await admin(sg, "GET", "/metrics");
  assert.equal(m.status, 200, output(sg));
  return m.text;
}

async function statePools(sg: RunningShardgate): Promise<string[]> {
  const s = JSON.parse((await admin(sg, "GET", "/admin/state")).text) as { pools: Record<string, unknown> };
  return Object.keys(s.pools).sort();
}

async function waitFor<T>(sg: RunningShardgate, what: string, f: () => Promise<T | undefined>): Promise<T> {
  return eventually(what, f, 60_000, 100).catch((err: unknown) =>
    assert.fail(`${String(err)}\n${output(sg)}`),
  );
}

/** Traffic on the round's pools: served requests, a drained member's key (not-owner), discovery errors. */
async function exercise(sg: RunningShardgate, round: number): Promise<void> {
  const c = consul as ConsulDouble;
  await waitFor(sg, `pool d${round} discovered`, async () => {
    const s = JSON.parse((await admin(sg, "GET", "/admin/state")).text) as {
      pools: Record<string, { members: unknown[] }>;
    };
    return (s.pools[`d${round}`]?.members.length ?? 0) > 0 ? true : undefined;
  });
  for (let i = 0; i < 8; i++) {
    const key = `k${Math.floor(random() * 1e9)}`;
    assert.equal(await get(sg, `/s${round}/x`, key), 200, output(sg));
    assert.equal(await get(sg, `/d${round}/x`, key), 200, output(sg));
  }
  const drain = await admin(sg, "POST", `/admin/pools/s${round}/members/s${round}a/drain`);
  assert.equal(drain.status, 200, `${drain.text}\n${output(sg)}`);
  // A key owned by the drained member goes to the other one: a not-owner decision for the pool.
  await waitFor(sg, `a not-owner decision in s${round}`, async () => {
    await get(sg, `/s${round}/x`, `k${Math.floor(random() * 1e9)}`);
    return (await scrape(sg)).includes(`shardgate_requests_not_owner_total{pool="s${round}",reason="drain"} `)
      ? true
      : undefined;
  });
  c.setFailure(500);
  await waitFor(sg, `discovery errors for d${round}`, async () =>
    seriesWith(await scrape(sg), "pool", new Set([`d${round}`])).includes(
      `shardgate_discovery_errors_total{pool="d${round}"}`,
    )
      ? true
      : undefined,
  );
  c.setFailure(undefined);
}

test("pools and routes removed by reloads leave no series behind", async () => {
  ups.push(...(await startUpstreams(1 + 3 * ROUNDS, "cr")));
  consul = await ConsulDouble.create({ seed });
  const keepPort = ups[0].port;
  const portsOf = (round: number) => ups.slice(1 + 3 * round, 4 + 3 * round).map((u) => u.port);
  const [a0, b0, d0] = portsOf(0);
  await registerService(consul, "d0m", "churn-d0", d0);
  const sg = await startShardgate(config(0, consul.address, keepPort, a0, b0), { env: INSPECT_ENV });
  const url = await inspectorUrl(() => sg.proc.stderr);
  const gonePools = new Set<string>();
  const goneRoutes = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    await exercise(sg, round);
    const before = await scrape(sg);
    // The round's route and pools carry these series before they go, so the check below can fail.
    const had = seriesWith(before, "route", new Set([`*/s${round}`]));
    for (const name of ["shardgate_affinity_total", "shardgate_requests_total"])
      assert.ok(
        had.includes(`${name}{route="*/s${round}"}`),
        `${name} of */s${round} before: ${had}\n${note}`,
      );
    if (round === 0) {
      // The count below can see a watcher: one runs now for d0.
      const running = (await heapObjectCounts(url, ["ConsulWatcher"])).ConsulWatcher;
      assert.ok(running >= 1, `a ConsulWatcher on the heap while d0 is watched: ${running}\n${note}`);
    }
    gonePools.add(`s${round}`);
    gonePools.add(`d${round}`);
    goneRoutes.add(`*/s${round}`);
    goneRoutes.add(`*/d${round}`);
    const next = round + 1 < ROUNDS ? round + 1 : -1;
    if (next >= 0) {
      const [a, b, d] = portsOf(next);
      await registerService(consul, `d${next}m`, `churn-d${next}`, d);
      sg.config.write(config(next, consul.address, keepPort, a, b));
    } else sg.config.write(config(-1, consul.address, keepPort, 0, 0));
    const r = await admin(sg, "POST", "/admin/reload");
    assert.equal(r.status, 200, `reload: ${r.text}\n${output(sg)}`);
    const want = next >= 0 ? ["keep", `d${next}`, `s${next}`].sort() : ["keep"];
    await waitFor(sg, `pools ${want}`, async () =>
      JSON.stringify(await statePools(sg)) === JSON.stringify(want) ? true : undefined,
    );
    assert.equal(await get(sg, "/", "after-reload"), 200, output(sg));
    const text = await scrape(sg);
    const left = [...seriesWith(text, "pool", gonePools), ...seriesWith(text, "route", goneRoutes)];
    assert.deepEqual(left, [], `series of removed pools and routes after reload ${round + 1}\n${output(sg)}`);
  }
  // The removed discovered pools' watchers stopped: no query held at the agent, none on the heap.
  const c = consul;
  await waitFor(sg, "no blocking query of a removed pool's service", async () =>
    Array.from({ length: ROUNDS }, (_, r) => c.blockedQueries(`churn-d${r}`)).every((q) => q === 0)
      ? true
      : undefined,
  );
  let watchers = -1;
  await waitFor(sg, "no Consul watcher on the heap", async () => {
    watchers = (await heapObjectCounts(url, ["ConsulWatcher"])).ConsulWatcher;
    return watchers === 0 ? true : undefined;
  }).catch(() =>
    assert.fail(`${watchers} ConsulWatcher objects after every discovered pool was removed\n${note}`),
  );
  const last = await scrape(sg);
  const lint = await promtoolCheckMetrics(last);
  assert.equal(lint.code, 0, `promtool check metrics: ${lint.out}`);
  // What is left is what the config names now (plus the fixed "none"/"removed" labels).
  const pools = [...labelValues(last, "pool")].filter((p) => p !== "none" && p !== "removed");
  assert.deepEqual(pools, ["keep"], note);
});
