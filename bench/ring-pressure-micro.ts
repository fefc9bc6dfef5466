// The key-to-member step under cache pressure, as on the request path: `npm run bench --
// ring-pressure [--against DIR] [--kib 16,64,256,1024] [--sizes 3,1000,10000] [--keys 10000]`.
// Before each choice the bench reads one byte per 64-byte line of the next KiB-sized stretch
// of a 64 MiB buffer (a request's fresh memory: young-generation allocation, socket buffers),
// then times one chooseMember(snapshot, hash) on a pool of each size (default: the
// three-member pool of route-choice, the proxy bench's), seeded random keys. Prints the
// median and p90 ns of the timed call per build, size and pressure, with the same timing
// around nothing as the floor, and each size's median over the first size's (issue 16: a
// large pool's lookups touch more cache lines). Sizes and builds interleave per pass.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { seededRandom } from "../ring/random.js";
import { load, type Modules } from "./route-choice-micro.js";
import { runIfMain } from "./run-if-main.js";

const SEED = 0x5eed;
const SAMPLES = 4000;
const PASSES = 7;
const BUFFER = 64 << 20;
let sink = 0;

function quantile(xs: number[], q: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))];
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      against: { type: "string" },
      kib: { type: "string", default: "16,64,256,1024" },
      sizes: { type: "string", default: "3" },
      keys: { type: "string", default: "4096" },
    },
  });
  const kibs = (values.kib as string).split(",").map((x) => Number(x));
  if (kibs.some((k) => !Number.isInteger(k) || k < 0 || k > 16384)) {
    console.error(`--kib: comma-separated integers 0..16384, got ${values.kib}`);
    return 2;
  }
  const sizes = (values.sizes as string).split(",").map((x) => Number(x));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 50_000)) {
    console.error(`--sizes: comma-separated member counts 1..50000, got ${values.sizes}`);
    return 2;
  }
  const keyCount = Number(values.keys);
  if (!Number.isInteger(keyCount) || keyCount < 1 || keyCount > 1_000_000) {
    console.error(`--keys: an integer 1..1000000, got ${values.keys}`);
    return 2;
  }
  const here = resolve(new URL(".", import.meta.url).pathname, "..");
  const dirs: Array<{ name: string; dir: string }> = [{ name: "this build", dir: here }];
  if (values.against !== undefined) dirs.push({ name: resolve(values.against), dir: values.against });
  const builds: Array<{ name: string; size: number; m: Modules | null }> = [
    { name: "floor (timer only)", size: 0, m: null },
  ];
  for (const size of sizes)
    for (const { name, dir } of dirs) builds.push({ name, size, m: await load(dir, size) });
  const rand = seededRandom(SEED);
  const keys = Array.from({ length: keyCount }, () => `u${Math.floor(rand() * 1e6)}`);
  const buf = new Uint8Array(BUFFER);
  for (let i = 0; i < BUFFER; i += 4096) buf[i] = i & 0xff;
  let at = 0;
  const touch = (bytes: number): void => {
    let s = 0;
    for (let i = 0; i < bytes; i += 64) {
      s += buf[at];
      at = at + 64 >= BUFFER ? 0 : at + 64;
    }
    sink += s;
  };
  console.log(
    `chooseMember under cache pressure: ${keyCount} seeded keys (seed ${SEED}), ns of one timed call after touching KiB of fresh lines, ${PASSES} interleaved passes of ${SAMPLES}`,
  );
  for (const kib of kibs) {
    const samples: number[][] = builds.map(() => []);
    for (let pass = 0; pass < PASSES + 1; pass++)
      builds.forEach(({ m }, k) => {
        for (let i = 0; i < SAMPLES; i++) {
          const hash = m === null ? i : m.hashKey(keys[(i * 7919 + pass) % keyCount]);
          touch(kib * 1024);
          const t0 = process.hrtime.bigint();
          const c = m === null ? hash & 1 : m.chooseMember(m.snapshot, hash, m.live, 0);
          const t = Number(process.hrtime.bigint() - t0);
          sink += c;
          if (pass > 0) samples[k].push(t);
        }
      });
    for (let k = 0; k < builds.length; k++) {
      const { name, size } = builds[k];
      const med = quantile(samples[k], 0.5);
      // The same build at the first size (builds are listed size by size, dirs in the same order).
      const base = k === 0 ? med : quantile(samples[1 + ((k - 1) % dirs.length)], 0.5);
      const label = size === 0 ? name : `${name}, ${size} members`;
      console.log(
        `${String(kib).padStart(5)} KiB  ${label.padEnd(56)} median ${String(med).padStart(5)} ns  p90 ${String(quantile(samples[k], 0.9)).padStart(5)} ns  x${(med / base).toFixed(2)}`,
      );
    }
  }
  if (sink === -1) console.log("");
  return 0;
}

runIfMain(import.meta.url, run);
