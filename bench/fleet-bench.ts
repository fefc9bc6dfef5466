// Fleet benchmark (issue 5): 3 voter + 1 learner real shardgate processes at default cluster
// settings (electionTimeout 1 s, heartbeat 100 ms, default debounce and breaker), 4 real
// upstreams in the Consul double. Measures
//  1. Consul change -> applied on all 4 instances (median/max over N changes), next to the
//     peer: the same change seen by one bare blocking query on /v1/health/service (what a
//     proxy that watches Consul on its own, without agreeing with its peers, would wait for);
//  2. member starts failing -> its breaker open on all 4 instances (median/max over N trips),
//     next to the time until the instance that saw the failures shows it open itself.
// Targets (issue 5): both medians under 1 s.
// Usage: npm run bench -- fleet [--changes 8] [--trips 5] [--election-ms 1000] [--heartbeat-ms 100]
//        [--seed 5003] [--json]

import { type Fleet, member, startFleet } from "../test/support/cluster/fleet-fixture.js";
import { httpRequest, sleep } from "../test/support/cluster/http-client.js";
import { randomKeys } from "../test/support/cluster/keys.js";
import { formatSummary, type Summary, summarize } from "../test/support/cluster/stats.js";
import type { FleetNode, StateView } from "../test/support/cluster-launcher.js";
import { rawGet } from "../test/support/consul/agent-ops.js";
import { eventually } from "../test/support/wait.js";
import { positiveIntArg } from "./args.js";
import { runIfMain } from "./run-if-main.js";

interface Options {
  changes: number;
  trips: number;
  electionMs: number;
  heartbeatMs: number;
  seed: number;
  json: boolean;
}

function parse(argv: string[]): Options {
  const num = (name: string, dflt: number): number => positiveIntArg(argv, name, dflt);
  const known = new Set(["--changes", "--trips", "--election-ms", "--heartbeat-ms", "--seed", "--json"]);
  for (const a of argv) if (a.startsWith("--") && !known.has(a)) throw new Error(`unknown option ${a}`);
  return {
    changes: num("--changes", 8),
    trips: num("--trips", 5),
    electionMs: num("--election-ms", 1000),
    heartbeatMs: num("--heartbeat-ms", 100),
    seed: num("--seed", 5003),
    json: argv.includes("--json"),
  };
}

/** Polls all live instances every ~5 ms until `pred` holds on each; returns ms since `t0`. */
function untilAll(fleet: Fleet, pred: (s: StateView) => boolean, t0: number, what: string): Promise<number> {
  return eventually(
    what,
    async () =>
      [...(await fleet.cluster.states()).values()].every(pred) ? performance.now() - t0 : undefined,
    30_000,
    5,
  );
}

/** Polls one instance every ~5 ms until `pred` holds; returns ms since `t0`. */
function untilOne(fleet: Fleet, n: FleetNode, pred: (s: StateView) => boolean, t0: number): Promise<number> {
  return eventually(
    `${n.id}`,
    async () => (pred(await fleet.cluster.stateOf(n)) ? performance.now() - t0 : undefined),
    30_000,
    5,
  );
}

/** One bare blocking query that returns when the service's index moves past `index`. */
async function bareWatch(fleet: Fleet, index: string, t0Ref: { t0: number }): Promise<number> {
  const r = await rawGet(
    fleet.consul,
    `/v1/health/service/${fleet.ups.service}?index=${index}&wait=30s`,
    35_000,
  );
  if (r.status !== 200) throw new Error(`bare watch: ${r.status} ${r.text}`);
  return performance.now() - t0Ref.t0;
}

async function consulChanges(fleet: Fleet, o: Options): Promise<{ fleet: number[]; bare: number[] }> {
  const ids = fleet.ups.ids;
  const out = { fleet: [] as number[], bare: [] as number[] };
  for (let i = 0; i < o.changes; i++) {
    const id = ids[Math.floor(i / 2) % ids.length];
    const down = i % 2 === 0;
    const head = await rawGet(fleet.consul, `/v1/health/service/${fleet.ups.service}`);
    const index = String(head.headers["x-consul-index"] ?? "1");
    const ref = { t0: 0 };
    const bare = bareWatch(fleet, index, ref);
    await sleep(20); // the blocking query is parked before the change
    ref.t0 = performance.now();
    if (down) await fleet.ups.critical(id, "bench");
    else await fleet.ups.passing(id);
    out.fleet.push(
      await untilAll(
        fleet,
        (s) => member(s, "users", id)?.healthy === !down,
        ref.t0,
        `${id} healthy=${!down}`,
      ),
    );
    out.bare.push(await bare);
    await sleep(700); // past the watchers' debounce and rate limit, so changes do not merge
  }
  return out;
}

async function force(fleet: Fleet, via: FleetNode, id: string, state: string): Promise<void> {
  const r = await fleet.cluster.adminPost(via, `/admin/pools/users/members/${id}/breaker`, { state });
  if (r.status !== 200) throw new Error(`force breaker ${state}: ${r.status} ${r.text}`);
}

async function breakerTrips(fleet: Fleet, o: Options): Promise<{ all: number[]; local: number[] }> {
  const { cluster, ups } = fleet;
  const keys = randomKeys(fleet.random, 400, "bench");
  const out = { all: [] as number[], local: [] as number[] };
  for (let i = 0; i < o.trips; i++) {
    const id = ups.ids[i % ups.ids.length];
    const conv = await cluster.waitConverged();
    const via = cluster.nodes.find((n) => n.id !== conv.leader && n.voter) as FleetNode;
    const routes = await cluster.routes(via, "users", keys);
    const mine = keys.filter((_, k) => routes[k].member === id);
    if (mine.length === 0) throw new Error(`no sample key routes to ${id} (seed ${o.seed})`);
    const t0 = performance.now();
    let stop = false;
    const traffic = (async () => {
      for (let n = 0; !stop && n < 5000; n++) {
        if (n % 2 === 0) ups.failWithReset(id);
        else ups.failWithStatus(id, 503);
        await httpRequest(`${via.httpUrl}/bench`, { headers: { "x-user-id": mine[n % mine.length] } }).catch(
          () => undefined,
        );
      }
    })();
    const isOpen = (s: StateView) => member(s, "users", id)?.breaker === "open";
    const [local, all] = await Promise.all([
      untilOne(fleet, via, isOpen, t0),
      untilAll(fleet, isOpen, t0, "open"),
    ]);
    stop = true;
    await traffic;
    out.local.push(local);
    out.all.push(all);
    ups.recover(id);
    // Close it for the next round without waiting out the cool-down: the operator path.
    await force(fleet, via, id, "closed");
    await force(fleet, via, id, "auto");
    await untilAll(fleet, (s) => member(s, "users", id)?.breaker === "closed", performance.now(), "closed");
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let o: Options;
  try {
    o = parse(argv);
  } catch (err) {
    console.error(`fleet bench: ${(err as Error).message}`);
    return 2;
  }
  const fleet = await startFleet({
    seed: o.seed,
    electionTimeoutMs: o.electionMs,
    heartbeatMs: o.heartbeatMs,
    accessLog: false,
    level: "warn",
  });
  try {
    const changes = await consulChanges(fleet, o);
    const trips = await breakerTrips(fleet, o);
    const s = {
      consulToAllInstances: summarize(changes.fleet),
      consulToBareWatch: summarize(changes.bare),
      breakerOpenOnAll: summarize(trips.all),
      breakerOpenOnObserver: summarize(trips.local),
    };
    const targets = {
      consulMedianUnder1s: s.consulToAllInstances.medianMs < 1000,
      breakerMedianUnder1s: s.breakerOpenOnAll.medianMs < 1000,
    };
    if (o.json) {
      console.log(JSON.stringify({ options: o, ...s, targets }));
    } else {
      const ratio = (a: Summary, b: Summary) => (a.medianMs / b.medianMs).toFixed(1);
      console.log(
        `fleet: 3 voters + 1 learner, electionTimeout ${o.electionMs} ms, heartbeat ${o.heartbeatMs} ms, seed ${o.seed}`,
      );
      console.log(formatSummary("  consul change -> applied on all 4 instances", s.consulToAllInstances));
      console.log(formatSummary("  peer: consul change -> one bare blocking query", s.consulToBareWatch));
      console.log(
        `  ratio (median, fleet / bare watch): ${ratio(s.consulToAllInstances, s.consulToBareWatch)}x (the fleet waits out the membership controller's 200 ms default debounce, which collapses flaps, then one Raft commit)`,
      );
      console.log(formatSummary("  member failing -> breaker open on all 4", s.breakerOpenOnAll));
      console.log(
        formatSummary("  member failing -> open on the observing instance", s.breakerOpenOnObserver),
      );
      console.log(
        `  targets: consul median < 1 s ${targets.consulMedianUnder1s ? "MET" : "MISSED"}; breaker median < 1 s ${targets.breakerMedianUnder1s ? "MET" : "MISSED"}`,
      );
    }
    return targets.consulMedianUnder1s && targets.breakerMedianUnder1s ? 0 : 1;
  } finally {
    const left = await fleet.close();
    if (left.length > 0) console.error(`fleet bench: killed leftover processes ${left.join(", ")}`);
  }
}

// Run directly: `node --import tsx bench/fleet-bench.ts` (bench/run.ts dispatches `fleet` here).
runIfMain(import.meta.url, run);
