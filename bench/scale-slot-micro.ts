// The request-end hooks of a cluster-mode shardgate (metrics observer + breaker outcome
// recorders, ClusterHooks.onRequestEnd) by pool size, finding the member's records by its
// slot (the request record's memberSlot, as the data plane sets it) next to finding them by
// member id (memberSlot -1: the Map lookups the request path made before slots), over the
// same seeded records: `npm run bench -- scale-slot [--sizes 3,1000,10000] [--keys 10000]`.
// `--against DIR` (another checkout, built, whose bench exports `setup`) instead times this
// build's by-slot pass against DIR's in one process, passes interleaved: a machine whose load
// moves every figure by 2x between runs still ranks two builds this way.
// ns per request end, median of interleaved passes; the peer is the smallest pool by id.
// A micro-benchmark keeps more of a large pool in the CPU caches than a proxy under load
// does, so it understates the gap `npm run bench -- scale-profile` shows; it shows the trend.
// `--churn KB` writes KB fresh bytes of a 32 MB buffer before each request end, as a proxy's
// allocations between two request ends do (its young generation is 16 MB): the members'
// records then leave the core's caches between two requests of one member, as they do under
// load, and the gap at 1,000 members shows (without it, 1,000 members' records stay cached).
// With `--against`, an older build whose setup takes no churn argument runs without churn:
// copy this build's dist/bench/scale-slot-micro.js into its dist/bench/ first.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { configSchema } from "../config/file/schema.js";
import type { ClusterStateData, MemberState } from "../config/state/types.js";
import { ClusterHooks } from "../proxy/cluster/cluster-hooks.js";
import { OutcomeRecorders } from "../proxy/cluster/outcome-recorders.js";
import type { RecordFields, RequestRecord } from "../proxy/forward/types.js";
import { createAccessLog } from "../proxy/logging/access-log.js";
import { MetricsObserver } from "../proxy/metrics/observer.js";
import { createMetrics } from "../proxy/metrics/registry.js";
import { SeriesCache } from "../proxy/metrics/series-cache.js";
import { buildRoutingState } from "../proxy/routing/routing-state.js";
import { hashKey } from "../ring/hash.js";
import { randomKeys } from "../ring/random.js";
import { checksum, median } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

const SEED = 0x16;
const N = 40_000;
const REPEATS = 15;
const AB_REPEATS = 41;

interface SizeSetup {
  size: number;
  byId: () => number;
  bySlot: () => number;
}

const CHURN_BYTES = 32 << 20;
let churnBuf: Int32Array | null = null;
let churnAt = 0;

/** Writes `ints` 4-byte words of the churn buffer, one per 64-byte line, continuing where the last call stopped. */
function churn(ints: number): number {
  churnBuf ??= new Int32Array(CHURN_BYTES >> 2);
  const b = churnBuf;
  let at = churnAt;
  for (let i = 0; i < ints; i += 16) {
    b[at] = i;
    at += 16;
    if (at >= b.length) at = 0;
  }
  churnAt = at;
  return at;
}

export function setup(size: number, keys: number, churnKb = 0): SizeSetup {
  const members = Array.from({ length: size }, (_, i) => ({
    id: `m${i + 1}`,
    address: `10.0.${(i >> 8) & 255}.${i & 255}:8080`,
  }));
  const config = configSchema.parse({
    pools: { p: { algorithm: "ring", members } },
    routes: [{ match: { pathPrefix: "/" }, pool: "p", key: ["header:x-user"] }],
  });
  const state = buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: 1 });
  const snap = state.pools.get("p");
  if (snap === undefined) throw new Error("no pool");
  const route = state.routeTable.routes[0].label;
  const series = new SeriesCache(createMetrics({ processMetrics: false }));
  series.syncRoutes([route]);
  series.syncMembers(
    "p",
    snap.members.map((m) => m.id),
  );
  const { members: _, ...settings } = config.pools.p;
  const committed = {
    pools: {
      p: {
        settings,
        ringVersion: 1,
        members: snap.members.map(
          (m): MemberState => ({
            id: m.id,
            address: m.address,
            weight: m.weight,
            source: "static",
            healthy: true,
            draining: false,
            breaker: { state: "closed", since: 0, until: 0, trips: 0, override: "auto" },
          }),
        ),
      },
    },
  } as unknown as ClusterStateData;
  const outcomes = new OutcomeRecorders();
  outcomes.sync(committed);
  const hooks = new ClusterHooks(
    new MetricsObserver(series, createAccessLog({ write() {} }, false)),
    outcomes,
  );
  const distinct = randomKeys(SEED, keys);
  // Records as the data plane's are: one shape, fast properties (a spread copy would read
  // its fields from a dictionary, and cost more than what is measured).
  const records = (withSlot: boolean): RequestRecord[] =>
    Array.from({ length: N }, (_, i): RequestRecord => {
      const index = snap.table.lookup(hashKey(distinct[(i * 7919) % keys]));
      const r = {
        method: "GET",
        path: "/",
        status: i % 50 === 0 ? 503 : 200,
        route,
        pool: "p",
        member: snap.members[index].id,
        memberSlot: withSlot ? snap.slots[index] : -1,
        durationMs: 0.3 + (i % 50) / 10,
        queuedMs: 0,
        requestId: "r",
        keyHash: 1,
        attempts: 1,
        ringVersion: 1,
        errorCode: "",
        upgrade: false,
        startedAt: 0,
        endedAt: -1,
        openSlot: -1,
        traceState: null,
        toJSON(): RecordFields {
          return r;
        },
      };
      return r;
    });
  const churnInts = (churnKb * 1024) >> 2;
  const pass = (rs: RequestRecord[]) => (): number => {
    if (churnInts > 0)
      for (let i = 0; i < N; i++) {
        churn(churnInts);
        hooks.onRequestEnd(rs[i]);
      }
    else for (let i = 0; i < N; i++) hooks.onRequestEnd(rs[i]);
    // Drained as the ~100 ms timer would (its cost is the leader's, not the request's).
    return outcomes.drain().entries.length;
  };
  return { size, byId: pass(records(false)), bySlot: pass(records(true)) };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: "string" },
      keys: { type: "string" },
      json: { type: "boolean" },
      against: { type: "string" },
      churn: { type: "string" },
    },
  });
  const sizes = (values.sizes ?? "3,1000,10000").split(",").map(Number);
  const keys = Number(values.keys ?? 10_000);
  const churnKb = Number(values.churn ?? 0);
  if (
    ![...sizes, keys].every((n) => Number.isInteger(n) && n >= 1) ||
    !(Number.isInteger(churnKb) && churnKb >= 0)
  ) {
    console.error(
      "usage: npm run bench -- scale-slot [--sizes 3,1000,10000] [--keys N] [--churn KB] [--against DIR] [--json]",
    );
    return 2;
  }
  if (values.against !== undefined) return against(values.against, sizes, keys, churnKb);
  const setups = sizes.map((s) => setup(s, keys, churnKb));
  const passes = setups.flatMap((s) => [s.byId, s.bySlot]);
  let sink = 0;
  for (const p of passes) for (let i = 0; i < 3; i++) sink ^= p();
  const samples: number[][] = passes.map(() => []);
  // Interleaved: every pass of every size in each round, so load on the machine hits all alike.
  for (let r = 0; r < REPEATS; r++)
    passes.forEach((p, i) => {
      const t0 = process.hrtime.bigint();
      sink ^= p();
      samples[i].push(Number(process.hrtime.bigint() - t0) / N);
    });
  const ns = samples.map(median);
  const base = ns[0];
  const rows = setups.map((s, k) => ({
    members: s.size,
    byIdNs: ns[2 * k],
    bySlotNs: ns[2 * k + 1],
  }));
  if (values.json === true) {
    console.log(JSON.stringify({ seed: SEED, n: N, keys, churnKb, rows, sink: sink ^ checksum() }));
    return 0;
  }
  console.log(
    `ClusterHooks.onRequestEnd (observer + breaker outcomes), ${keys} distinct keys, ${N} seeded records (seed ${SEED}), ${churnKb} KB churn each, median of ${REPEATS} interleaved passes`,
  );
  console.log(
    `${"members".padEnd(9)}${"by id ns".padStart(10)}${"by slot ns".padStart(12)}  vs ${sizes[0]} by id`,
  );
  for (const r of rows)
    console.log(
      `${String(r.members).padEnd(9)}${r.byIdNs.toFixed(0).padStart(10)}${r.bySlotNs.toFixed(0).padStart(12)}  ${(r.byIdNs / base).toFixed(2)}x -> ${(r.bySlotNs / base).toFixed(2)}x`,
    );
  return 0;
}

runIfMain(import.meta.url, run);

/** This build's by-slot pass against another build's, per size, interleaved in one process. */
async function against(dir: string, sizes: number[], keys: number, churnKb: number): Promise<number> {
  const other = (await import(resolve(dir, "dist/bench/scale-slot-micro.js"))) as { setup?: typeof setup };
  if (typeof other.setup !== "function") {
    console.error(`${dir}: its dist/bench/scale-slot-micro.js exports no setup`);
    return 2;
  }
  const otherSetup = other.setup;
  const passes = sizes.flatMap((s) => [otherSetup(s, keys, churnKb).bySlot, setup(s, keys, churnKb).bySlot]);
  let sink = 0;
  for (const p of passes) for (let i = 0; i < 3; i++) sink ^= p();
  const samples: number[][] = passes.map(() => []);
  for (let r = 0; r < AB_REPEATS; r++)
    passes.forEach((p, i) => {
      const t0 = process.hrtime.bigint();
      sink ^= p();
      samples[i].push(Number(process.hrtime.bigint() - t0) / N);
    });
  const ns = samples.map(median);
  console.log(
    `onRequestEnd by slot, this build against ${dir}, ${keys} keys (seed ${SEED}), ${churnKb} KB churn each, median of ${AB_REPEATS} interleaved passes (sink ${sink & 1})`,
  );
  console.log(`${"members".padEnd(9)}${"other ns".padStart(10)}${"this ns".padStart(10)}  this/other`);
  for (const [k, s] of sizes.entries()) {
    console.log(
      `${String(s).padEnd(9)}${ns[2 * k].toFixed(0).padStart(10)}${ns[2 * k + 1].toFixed(0).padStart(10)}  ${(ns[2 * k + 1] / ns[2 * k]).toFixed(2)}`,
    );
  }
  return 0;
}
