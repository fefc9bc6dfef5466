// Scale benchmark (issue 16): `npm run bench -- scale [--only request,drain,...] [--seconds 5]
// [--rounds 3] [--connections 32] [--seed 16] [--json]`.
//
// Every row of the table, measured at a small and a large size in one run, with the
// ratio large/small and the target beside it. Targets are printed, never asserted.
// Upstreams are one nginx worker answering a fixed 200 on 4 loopback ports (members are
// spread over them round-robin), so the proxy's own cost is what grows.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runIfMain } from "./run-if-main.js";
import { startNginxUpstream } from "./scale/processes.js";
import { measureRequests } from "./scale/request-rows.js";

const SECTIONS = ["request"] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  only: ReadonlySet<Section>;
  seconds: number;
  rounds: number;
  connections: number;
  seed: number;
  sizes: number[];
  json: boolean;
}

function parse(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i < 0 ? undefined : argv[i + 1];
  };
  const num = (name: string, dflt: number): number => {
    const v = value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} needs a positive integer, got ${v}`);
    return n;
  };
  const known = new Set(["--only", "--seconds", "--rounds", "--connections", "--seed", "--sizes", "--json"]);
  for (const a of argv) if (a.startsWith("--") && !known.has(a)) throw new Error(`unknown option ${a}`);
  const onlyText = value("--only");
  const only = new Set<Section>();
  for (const s of onlyText === undefined ? SECTIONS : onlyText.split(",")) {
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new Error(`--only: unknown section ${s} (${SECTIONS.join(", ")})`);
    only.add(s as Section);
  }
  const sizesText = value("--sizes");
  return {
    only,
    seconds: num("--seconds", 5),
    rounds: num("--rounds", 3),
    connections: num("--connections", 32),
    seed: num("--seed", 16),
    sizes: sizesText === undefined ? [3, 1000, 10000] : sizesText.split(",").map(Number),
    json: argv.includes("--json"),
  };
}

interface Row {
  what: string;
  small: string;
  large: string;
  ratio: string;
  target: string;
}

function printTable(rows: readonly Row[]): void {
  const cols: Array<keyof Row> = ["what", "small", "large", "ratio", "target"];
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i])).join(" | ")} |`;
  console.log(line(cols));
  console.log(line(width.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => r[c])));
}

const x = (v: number) => `${v.toFixed(2)}x`;

export async function run(argv: string[]): Promise<number> {
  const o = parse(argv);
  const dir = mkdtempSync(join(tmpdir(), "shardgate-scale-"));
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const stops: Array<() => Promise<void>> = [];
  try {
    if (o.only.has("request")) {
      const up = await startNginxUpstream(dir, 4);
      if (typeof up === "string") {
        console.error(`request rows skipped: ${up}`);
      } else {
        stops.push(up.stop);
        const figures = await measureRequests(dir, up, {
          sizes: o.sizes,
          keySets: [10_000, 30],
          seconds: o.seconds,
          rounds: o.rounds,
          connections: o.connections,
          seed: o.seed,
        });
        raw.request = figures;
        const small = o.sizes[0];
        for (const keys of [10_000, 30]) {
          const base = figures.find((f) => f.members === small && f.keys === keys);
          if (base === undefined) continue;
          for (const f of figures) {
            if (f.keys !== keys || f.members === small) continue;
            const target = f.members >= 10_000 ? ">= 0.90x" : ">= 0.95x, p99 <= 1.20x";
            rows.push({
              what: `proxied req/s, ${keys} keys, wrk -c${o.connections}`,
              small: `${small}: ${base.rps.toFixed(0)} req/s, p99 ${base.p99ms.toFixed(2)} ms, ${base.rssMb.toFixed(0)} MB`,
              large: `${f.members}: ${f.rps.toFixed(0)} req/s, p99 ${f.p99ms.toFixed(2)} ms, ${f.rssMb.toFixed(0)} MB`,
              ratio: `${x(f.rps / base.rps)}, p99 ${x(f.p99ms / base.p99ms)}, RSS ${x(f.rssMb / base.rssMb)}`,
              target,
            });
            if (keys === 10_000)
              rows.push({
                what: "GC share of proxy CPU under load",
                small: `${small}: ${(100 * base.gcShare).toFixed(1)} %`,
                large: `${f.members}: ${(100 * f.gcShare).toFixed(1)} %`,
                ratio: x(f.gcShare / base.gcShare),
                target: "flat",
              });
          }
          const errs = figures.filter((f) => f.keys === keys).reduce((a, f) => a + f.errors, 0);
          if (errs > 0) console.error(`warning: ${errs} wrk errors with ${keys} keys`);
        }
      }
    }
    if (o.json) console.log(JSON.stringify({ rows, raw }, null, 2));
    else {
      console.log(`scale bench: medians of ${o.rounds} interleaved rounds of ${o.seconds} s; upstream nginx`);
      printTable(rows);
    }
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
