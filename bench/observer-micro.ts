// Cost of the request-end observer with this per-request additions (per-member
// latency histogram + live counters), next to the
// observer's work before them (the pool histogram and the per-member request counter,
// measured in the same run): `npm run bench -- observer-micro`. ns per onRequestEnd, median
// of several passes over pre-generated seeded records; access log off.

import { configSchema } from "../config/file/schema.js";
import type { RequestRecord } from "../proxy/forward/types.js";
import { createAccessLog } from "../proxy/logging/access-log.js";
import { MetricsObserver } from "../proxy/metrics/observer.js";
import { codeClassIndex, createMetrics } from "../proxy/metrics/registry.js";
import { SeriesCache } from "../proxy/metrics/series-cache.js";
import { buildRoutingState } from "../proxy/routing/routing-state.js";
import { hashKey } from "../ring/hash.js";
import { randomKeys } from "../ring/random.js";
import { runIfMain } from "./run-if-main.js";

const SEED = 0x14;
const N = 20_000;
const REPEATS = 15;
let sink = 0;

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * ns per call of each pass (each makes `n` calls), timed in interleaved rounds so that a
 * loaded machine slows every variant alike; also each variant's median ratio to the first.
 */
function timeInterleaved(n: number, passes: Array<() => number>): { ns: number[]; ratio: number[] } {
  for (const p of passes) for (let i = 0; i < 3; i++) sink ^= p();
  const ns: number[][] = passes.map(() => []);
  const ratios: number[][] = passes.map(() => []);
  for (let r = 0; r < REPEATS; r++) {
    const round = passes.map((p) => {
      const t0 = process.hrtime.bigint();
      sink ^= p();
      return Number(process.hrtime.bigint() - t0) / n;
    });
    round.forEach((v, i) => {
      ns[i].push(v);
      ratios[i].push(v / round[0]);
    });
  }
  return { ns: ns.map(median), ratio: ratios.map(median) };
}

export async function run(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const members = Array.from({ length: 8 }, (_, i) => ({ id: `m${i + 1}`, address: `10.0.0.${i + 1}:8080` }));
  const config = configSchema.parse({
    pools: { p: { algorithm: "ring", members } },
    routes: [{ match: { pathPrefix: "/" }, pool: "p", key: ["header:x-user"] }],
  });
  const state = buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: 1 });
  const snap = state.pools.get("p");
  if (snap === undefined) throw new Error("no pool");
  const route = state.routeTable.routes[0].label;
  const metrics = createMetrics({ processMetrics: false });
  const series = new SeriesCache(metrics);
  series.syncRoutes([route]);
  series.syncMembers(
    "p",
    snap.members.map((m) => m.id),
  );
  const keys = randomKeys(SEED, N);
  // Each record is served by its key's owner, except every 10th (as if the owner were skipped).
  const records = keys.map((k, i): RequestRecord => {
    const keyHash = hashKey(k);
    const owner = snap.table.lookup(keyHash);
    const index = i % 10 === 0 ? (owner + 1) % snap.members.length : owner;
    const member = snap.members[index].id;
    const fields = {
      method: "GET",
      path: "/",
      status: 200,
      route,
      pool: "p",
      member,
      durationMs: 0.3 + (i % 50) / 10,
      queuedMs: 0,
      requestId: "r",
      keyHash,
      attempts: 1,
      ringVersion: snap.ringVersion,
      errorCode: "",
      upgrade: false,
      startedAt: 0,
    };
    return {
      ...fields,
      memberSlot: snap.slots[index],
      endedAt: -1,
      openSlot: -1,
      traceState: null,
      toJSON: () => fields,
    };
  });
  const plain = new MetricsObserver(series, createAccessLog({ write() {} }, false));
  const before = (): number => {
    for (let i = 0; i < N; i++) {
      const r = records[i];
      const ps = series.pool(r.pool);
      ps.duration.observe(r.durationMs / 1000);
      ps.member(r.member).countRequest(r.route, codeClassIndex(r.status));
    }
    return N;
  };
  const withMember = (): number => {
    for (let i = 0; i < N; i++) plain.onRequestEnd(records[i]);
    return N;
  };
  const t = timeInterleaved(N, [before, withMember]);
  const rows = [
    { impl: "before (pool histogram + member counter)", ns: t.ns[0], ratio: t.ratio[0] },
    { impl: "+ member histogram and live counters", ns: t.ns[1], ratio: t.ratio[1] },
  ];
  if (json) {
    console.log(JSON.stringify({ seed: SEED, n: N, rows, sink }));
    return 0;
  }
  console.log(
    `observer onRequestEnd: ${N} seeded records (seed ${SEED}), median of ${REPEATS} interleaved passes\n`,
  );
  console.log(
    `${"observer work per request".padEnd(46)}${"ns/call".padStart(10)}${"vs before".padStart(11)}`,
  );
  for (const r of rows)
    console.log(`${r.impl.padEnd(46)}${r.ns.toFixed(0).padStart(10)}${r.ratio.toFixed(2).padStart(10)}x`);
  return 0;
}

runIfMain(import.meta.url, run);
