// The first read of a ring a request still holds after two membership updates (issue 16: a
// retry on the ring the request started with, after two reloads handed its arrays on; see
// ring/ring-cells.ts). `npm run bench -- scale-held-ring [--sizes 1000,5000,10000] [--repeats 9]
// [--against DIR]`. Per size: ring r0, r1 = r0 with one member gone and one joined, r2 = r1
// with another such change ("other members") or with r0's members back ("member back"), then
// the time of one lookup on r0, which before this bench's change rebuilt r0's table afresh.
// A ring is rebuilt per sample, so samples are independent; the median of `repeats`.
// `--against DIR` (another checkout, built) times that build's rings beside this one's,
// interleaved in one process.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildRingHash } from "../ring/ring-hash.js";
import type { HashTable, RingMember } from "../ring/types.js";
import { median } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

type Build = (members: readonly RingMember[], options?: object, previous?: HashTable) => HashTable;

function pool(n: number, prefix: string): RingMember[] {
  const out: RingMember[] = [];
  for (let i = 0; i < n; i++) out.push({ id: `${prefix}-${String(i).padStart(6, "0")}`, weight: 1 });
  return out;
}

function swapOne(members: readonly RingMember[], at: number, joiner: string): RingMember[] {
  return [...members.filter((_, i) => i !== at), { id: joiner, weight: 1 }];
}

/** ms of r0's first lookup after r0 -> r1 -> r2, for each build and each kind, one sample. */
function sample(build: Build, a: readonly RingMember[], k: number, back: boolean): number {
  const b = swapOne(a, (k * 7919) % a.length, `joiner-b-${k}`);
  const c = back ? a : swapOne(b, (k * 104729) % b.length, `joiner-c-${k}`);
  const r0 = build(a);
  const r1 = build(b, {}, r0);
  build(c, {}, r1);
  const t = performance.now();
  r0.lookup(0x9e3779b9);
  return performance.now() - t;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { sizes: { type: "string" }, repeats: { type: "string" }, against: { type: "string" } },
  });
  const sizes = (values.sizes ?? "1000,5000,10000").split(",").map(Number);
  const repeats = Number(values.repeats ?? 9);
  if (![...sizes, repeats].every((n) => Number.isInteger(n) && n >= 1)) {
    console.error(
      "usage: npm run bench -- scale-held-ring [--sizes 1000,5000,10000] [--repeats N] [--against DIR]",
    );
    return 2;
  }
  const builds: [string, Build][] = [];
  if (values.against !== undefined) {
    const file = resolve(values.against, "dist/ring/ring-hash.js");
    try {
      const mod = (await import(file)) as { buildRingHash?: unknown };
      if (typeof mod.buildRingHash !== "function") throw new Error("it exports no buildRingHash");
      builds.push([values.against, mod.buildRingHash as Build]);
    } catch (err) {
      console.error(`--against ${values.against}: cannot load ${file}: ${(err as Error).message}`);
      return 2;
    }
  }
  builds.push(["this build", buildRingHash as Build]);
  console.log(`first lookup on a ring held across two updates, ms, median of ${repeats}`);
  console.log(`members  ${builds.map(([name]) => `${name}: other members / member back`).join("   ")}`);
  for (const size of sizes) {
    const a = pool(size, "member");
    const times = builds.map(() => [[] as number[], [] as number[]]);
    for (let k = 0; k < repeats; k++)
      for (const [j, [, build]] of builds.entries()) {
        times[j][0].push(sample(build, a, k, false));
        times[j][1].push(sample(build, a, k, true));
      }
    const cells = times.map(([o, b]) => `${median(o).toFixed(2)} / ${median(b).toFixed(2)}`);
    console.log(`${String(size).padEnd(8)} ${cells.map((c) => c.padStart(40)).join("   ")}`);
  }
  return 0;
}

runIfMain(import.meta.url, run);
