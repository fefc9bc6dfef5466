// The request path's key-to-member step: `npm run bench -- route-choice [--against DIR]`.
// ns per request of hashKey(key) then chooseMember(snapshot, hash, live, now) on a pool of
// three members with every member eligible (the proxy bench's pool and keys: "u" and up to six
// digits), next to the same step with one member draining (a third of the keys walk on);
// `--against DIR`: the same steps with another build's modules (DIR is its dist/, e.g. a copy
// of main's), in the same interleaved passes. Median of several passes over seeded keys.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { seededRandom } from "../ring/random.js";
import { runIfMain } from "./run-if-main.js";

const SEED = 0x5eed;
const KEYS = 4096;
const N = 400_000;
const PASSES = 11;
let sink = 0;

export interface Modules {
  hashKey(key: string): number;
  chooseMember(snapshot: unknown, hash: number, live: unknown, now: number): number;
  snapshot: unknown;
  drained: unknown;
  live: unknown;
  liveDrained: unknown;
}

/** This build's modules (dir = its dist/) with a pool of `size` members (three by default) built by them. */
export async function load(dir: string, size = 3): Promise<Modules> {
  const at = (p: string) => import(pathToFileURL(resolve(dir, p)).href);
  const { configSchema } = await at("config/file/schema.js");
  const { buildRoutingState } = await at("proxy/routing/routing-state.js");
  const { hashKey } = await at("ring/hash.js");
  const { chooseMember } = await at("proxy/routing/member-choice.js");
  const { PoolLive } = await at("proxy/routing/pool-live.js");
  const members = Array.from({ length: size }, (_, i) => ({
    id: `m${i + 1}`,
    address: `127.0.0.1:${8001 + i}`,
  }));
  const config = configSchema.parse({
    pools: { p: { algorithm: "ring", members } },
    routes: [{ match: { pathPrefix: "/" }, pool: "p", key: ["header:x-user"] }],
  });
  const state = (draining: boolean) =>
    buildRoutingState({
      pools: config.pools,
      routes: config.routes,
      ringVersion: 1,
      flags: new Map([["p", new Map(draining ? [["m2", { draining: true }]] : [])]]),
    }).pools.get("p");
  const snapshot = state(false);
  const drained = state(true);
  return {
    hashKey,
    chooseMember,
    snapshot,
    drained,
    live: new PoolLive(snapshot),
    liveDrained: new PoolLive(drained),
  };
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { against: { type: "string" } } });
  const here = resolve(new URL(".", import.meta.url).pathname, "..");
  const builds: Array<{ name: string; m: Modules }> = [{ name: "this build", m: await load(here) }];
  if (values.against !== undefined)
    builds.push({ name: resolve(values.against), m: await load(values.against) });
  const rand = seededRandom(SEED);
  const keys = Array.from({ length: KEYS }, () => `u${Math.floor(rand() * 1e6)}`);
  const variants = builds.flatMap(({ name, m }) => [
    { name: `${name}, all eligible`, m, snap: m.snapshot, live: m.live },
    { name: `${name}, one of three draining`, m, snap: m.drained, live: m.liveDrained },
  ]);
  const ns: number[][] = variants.map(() => []);
  for (let pass = 0; pass < PASSES + 2; pass++)
    variants.forEach((v, k) => {
      const now = performance.now();
      const c0 = process.cpuUsage();
      for (let i = 0; i < N; i++)
        sink += v.m.chooseMember(v.snap, v.m.hashKey(keys[i & (KEYS - 1)]), v.live, now);
      const c = process.cpuUsage(c0);
      if (pass >= 2) ns[k].push(((c.user + c.system) * 1000) / N);
    });
  console.log(
    `route choice: hashKey + chooseMember, ${KEYS} seeded keys (seed ${SEED}), CPU ns per request, median of ${PASSES} interleaved passes of ${N}`,
  );
  for (let k = 0; k < variants.length; k++)
    console.log(`${variants[k].name.padEnd(70)}${median(ns[k]).toFixed(1).padStart(8)} ns`);
  if (sink === -1) console.log("");
  return 0;
}

runIfMain(import.meta.url, run);
