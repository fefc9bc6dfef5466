// Scale benchmark (issue 16): `npm run bench -- scale [--only request,drain,metrics,...] [--seconds 3]
// [--rounds 8] [--connections 32] [--seed 16] [--request-addresses 1] [--pin on|off] [--mirror on|off] [--fresh on|off] [--json]`.
//
// Every row of the table, measured at a small and a large size in one run, with the
// ratio large/small and the target beside it. Targets are printed, never asserted.
// Upstreams are one nginx worker answering a fixed 200 on 4 loopback ports (members are
// spread over them round-robin; the request rows' members over --request-addresses of them),
// so the proxy's own cost is what grows.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numberArg, positiveIntArg } from "./args.js";
import { choosePinning, describePinning, type Pinning } from "./cpu-pinning.js";
import { CpuSpeedProbe } from "./cpu-speed.js";
import { DEFAULT_METHOD, type MethodOptions, roundVerdictText } from "./round-verdict.js";
import { runIfMain } from "./run-if-main.js";
import { type MemoryParts, measureDrain, measureReload } from "./scale/change-rows.js";
import { measureCommands } from "./scale/command-rows.js";
import { DEBOUNCE_MS, measureConsul } from "./scale/consul-rows.js";
import { measureFileLoad } from "./scale/file-load-rows.js";
import { measureFleet } from "./scale/fleet-rows.js";
import { layoutText } from "./scale/key-layout.js";
import { measureMetrics } from "./scale/metrics-rows.js";
import { startNginxUpstream, type Upstream } from "./scale/processes.js";
import { measureRequests, ROUND_WARMUP_RULE } from "./scale/request-rows.js";
import { measureJoin, measureTables } from "./scale/ring-rows.js";

/** nginx ports the bench's upstream listens on; members are spread over them round-robin. */
const UPSTREAM_PORTS = 4;

/**
 * How many of those ports the request rows' members use (`--request-addresses`). One by
 * default: then every size sends its whole load to one address, one upstream connection
 * pool, whatever its keys. Spread over four, 30 keys reached 3 addresses at 3 members and
 * 4 at 1,000 and 10,000, with other splits and so other connection counts (key-layout.ts).
 */
const REQUEST_ADDRESSES = 1;

const SECTIONS = ["tables", "request", "drain", "reload", "consul", "fleet", "metrics"] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  only: ReadonlySet<Section>;
  seconds: number;
  rounds: number;
  connections: number;
  seed: number;
  sizes: number[];
  repeats: number;
  reloads: number;
  json: boolean;
  method: MethodOptions;
  probe: boolean;
  requestAddresses: number;
  /** The request rows' CPU split (`--pin on`), or why there is none. */
  pinning: Pinning | string;
  /** The request rows' rounds mirrored (`--mirror on`, the default): every size twice per round. */
  mirrored: boolean;
  /** Each round of the request rows on fresh processes (`--fresh on`, the default). */
  fresh: boolean;
}

function parse(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i < 0 ? undefined : argv[i + 1];
  };
  const num = (name: string, dflt: number): number => positiveIntArg(argv, name, dflt);
  const known = new Set([
    "--only",
    "--seconds",
    "--rounds",
    "--connections",
    "--seed",
    "--sizes",
    "--repeats",
    "--reloads",
    "--json",
    "--max-outside-cpu",
    "--max-outside-spread",
    "--speed-band",
    "--probe",
    "--reruns",
    "--request-addresses",
    "--pin",
    "--mirror",
    "--fresh",
  ]);
  for (const a of argv) if (a.startsWith("--") && !known.has(a)) throw new Error(`unknown option ${a}`);
  const onlyText = value("--only");
  const only = new Set<Section>();
  for (const s of onlyText === undefined ? SECTIONS : onlyText.split(",")) {
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new Error(`--only: unknown section ${s} (${SECTIONS.join(", ")})`);
    only.add(s as Section);
  }
  const sizesText = value("--sizes");
  const probe = value("--probe") ?? "off";
  if (probe !== "on" && probe !== "off") throw new Error(`--probe expects on or off, got ${probe}`);
  const pin = value("--pin") ?? "off";
  if (pin !== "on" && pin !== "off") throw new Error(`--pin expects on or off, got ${pin}`);
  const onOff = (flag: string): boolean => {
    const v = value(flag) ?? "on";
    if (v !== "on" && v !== "off") throw new Error(`${flag} expects on or off, got ${v}`);
    return v === "on";
  };
  return {
    only,
    seconds: num("--seconds", 3),
    rounds: num("--rounds", 8),
    connections: num("--connections", 32),
    seed: num("--seed", 16),
    sizes: sizesText === undefined ? [3, 1000, 10000] : sizesText.split(",").map(Number),
    repeats: num("--repeats", 5),
    reloads: num("--reloads", 50),
    json: argv.includes("--json"),
    method: {
      ...DEFAULT_METHOD,
      maxOtherCores: numberArg(argv, "--max-outside-cpu", DEFAULT_METHOD.maxOtherCores),
      maxOtherSpread: numberArg(argv, "--max-outside-spread", DEFAULT_METHOD.maxOtherSpread),
      maxReruns: numberArg(argv, "--reruns", DEFAULT_METHOD.maxReruns),
      speedBand: numberArg(argv, "--speed-band", DEFAULT_METHOD.speedBand),
    },
    probe: probe === "on",
    requestAddresses: num("--request-addresses", REQUEST_ADDRESSES),
    pinning: pin === "on" ? choosePinning() : "--pin off",
    mirrored: onOff("--mirror"),
    fresh: onOff("--fresh"),
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
    if (o.only.has("tables")) {
      const figures = measureTables([100, 1000, 10_000], o.seed);
      raw.tables = figures;
      for (const algorithm of ["ring", "maglev"] as const) {
        const base = figures.find((f) => f.algorithm === algorithm && f.members === 100);
        if (base === undefined) continue;
        for (const f of figures) {
          if (f.algorithm !== algorithm || f.members === 100) continue;
          const size = (g: typeof f) => (g.tableSize === undefined ? "" : ` (table ${g.tableSize})`);
          const mps = (v: number) => `${(v / 1e6).toFixed(1)} M/s`;
          const cell = (g: typeof f) =>
            `${g.members}${size(g)}: ${g.buildMs.toFixed(1)} ms, ${mps(g.lookupsPerSec)} (hashKey+lookup ${mps(g.keyLookupsPerSec)})`;
          rows.push({
            what: `${algorithm} build / lookups (CPU time)`,
            small: cell(base),
            large: cell(f),
            ratio: `lookups ${x(f.lookupsPerSec / base.lookupsPerSec)}, hashKey+lookup ${x(f.keyLookupsPerSec / base.keyLookupsPerSec)}`,
            target: f.members === 10_000 ? "build < 100 ms, lookups >= 0.67x" : "",
          });
          if (f.floorReadsPerSec !== undefined && base.floorReadsPerSec !== undefined) {
            const mb = (g: typeof f) => `${((g.lookupBytes ?? 0) / 2 ** 20).toFixed(2)} MB`;
            rows.push({
              what: `${algorithm}: one random read from an array of its point count (memory floor)`,
              small: `100 (${mb(base)} to search): ${mps(base.floorReadsPerSec)}`,
              large: `${f.members} (${mb(f)}): ${mps(f.floorReadsPerSec)}`,
              ratio: `${x(f.floorReadsPerSec / base.floorReadsPerSec)}; ceiling ${x(f.floorReadsPerSec / base.lookupsPerSec)} of lookups at 100`,
              target: "",
            });
          }
        }
      }
      const joins = measureJoin([1000, 10_000], 3);
      raw.joins = joins;
      for (const algorithm of ["ring", "maglev"] as const) {
        const [small, large] = joins.filter((j) => j.algorithm === algorithm);
        if (small === undefined || large === undefined) continue;
        const cell = (j: typeof small) =>
          `${j.members}: update ${j.updateMs.toFixed(1)} ms, fresh ${j.freshMs.toFixed(1)} ms`;
        rows.push({
          what: `one member joins (${algorithm}${algorithm === "maglev" ? ": rebuilt, no update equals a fresh fill" : ": points reused"})`,
          small: cell(small),
          large: cell(large),
          ratio: `update/fresh ${x(large.updateMs / large.freshMs)}`,
          target: "equal to a fresh build (tested)",
        });
      }
    }
    if (o.only.has("fleet")) {
      const figures = await measureFleet([6, 20], o.repeats, o.seed);
      raw.fleet = figures;
      const [small, large] = figures;
      if (small !== undefined && large !== undefined) {
        rows.push({
          what: "drain visible on every instance (median)",
          small: `3 voters + ${small.learners} learners: ${small.drainMs.toFixed(0)} ms`,
          large: `3 voters + ${large.learners} learners: ${large.drainMs.toFixed(0)} ms`,
          ratio: x(large.drainMs / small.drainMs),
          target: "large < 100 ms",
        });
        rows.push({
          what: "leader CPU while the fleet is idle",
          small: `+${small.learners} learners: ${small.leaderIdleCpu.toFixed(1)} % of a core`,
          large: `+${large.learners} learners: ${large.leaderIdleCpu.toFixed(1)} % of a core`,
          ratio: x(large.leaderIdleCpu / small.leaderIdleCpu),
          target: "large < 5 %",
        });
      }
    }
    const needUpstream =
      o.only.has("request") ||
      o.only.has("drain") ||
      o.only.has("reload") ||
      o.only.has("consul") ||
      o.only.has("metrics");
    const started = needUpstream ? await startNginxUpstream(dir, UPSTREAM_PORTS) : null;
    if (typeof started === "string") {
      console.error(`scale bench needs a fast upstream: ${started}`);
      return 1;
    }
    const up = started as Upstream;
    if (started !== null) stops.push(started.stop);
    if (o.only.has("request")) {
      {
        // The CPU-speed probe calibrates before the request rows' processes start (cpu-speed.ts).
        const probe = o.probe ? await CpuSpeedProbe.start() : "--probe off";
        if (typeof probe === "string") {
          if (!o.json) console.log(`CPU-speed probe: off (${probe})`);
        } else {
          stops.push(async () => {
            if (!o.json)
              console.log(`CPU-speed probe cost: ${(100 * probe.costPerCore()).toFixed(2)} % of each CPU`);
            await probe.stop();
          });
          if (!o.json) console.log(probe.describe());
        }
        const figures = await measureRequests(dir, up, {
          probe: typeof probe === "string" ? null : probe,
          sizes: o.sizes,
          keySets: [10_000, 30],
          seconds: o.seconds,
          rounds: o.rounds,
          connections: o.connections,
          seed: o.seed,
          addresses: o.requestAddresses,
          pinning: typeof o.pinning === "string" ? null : o.pinning,
          mirrored: o.mirrored,
          fresh: o.fresh,
          method: o.method,
          say: (line) => {
            if (!o.json) console.log(line);
          },
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
              small: `${small}: ${base.rps.toFixed(0)} req/s, p99 ${base.p99ms.toFixed(2)} ms, ${base.rssMb.toFixed(0)} MB, proxy busy ${(100 * base.busy).toFixed(0)} %, ${base.connects} upstream connects; keys reach ${layoutText(base.layout)}`,
              large: `${f.members}: ${f.rps.toFixed(0)} req/s, p99 ${f.p99ms.toFixed(2)} ms, ${f.rssMb.toFixed(0)} MB, proxy busy ${(100 * f.busy).toFixed(0)} %, ${f.connects} upstream connects; keys reach ${layoutText(f.layout)}`,
              ratio: `${x(f.rps / base.rps)}, p99 ${x(f.p99ms / base.p99ms)}, RSS ${x(f.rssMb / base.rssMb)}; ${roundVerdictText(f.verdicts)}`,
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
            if (keys === 10_000) {
              const gc = (g: typeof f) =>
                `${g.cpuUs.toFixed(0)} us, GC/10k req: ${g.majorPer10k.toFixed(2)} major (${g.majorMsPer10k.toFixed(1)} ms), ${g.minorPer10k.toFixed(1)} minor`;
              rows.push({
                what: "proxy CPU per request, GCs per 10,000 requests",
                small: `${small}: ${gc(base)}`,
                large: `${f.members}: ${gc(f)}`,
                ratio: `CPU ${x(f.cpuUs / base.cpuUs)}`,
                target: "flat",
              });
            }
          }
          const errs = figures.filter((f) => f.keys === keys).reduce((a, f) => a + f.errors, 0);
          if (errs > 0) console.error(`warning: ${errs} wrk errors with ${keys} keys`);
        }
      }
    }
    if (o.only.has("drain")) {
      const figures = await measureDrain(dir, up, [10, 5000], o.repeats);
      raw.drain = figures;
      for (const algorithm of ["ring", "maglev"] as const) {
        const small = figures.find((f) => f.algorithm === algorithm && f.members === 10);
        const large = figures.find((f) => f.algorithm === algorithm && f.members === 5000);
        if (small === undefined || large === undefined) continue;
        rows.push({
          what: `drain/undrain one member -> visible in /admin/route (${algorithm})`,
          small: `10: ${small.ms.toFixed(1)} ms`,
          large: `5000: ${large.ms.toFixed(1)} ms`,
          ratio: x(large.ms / small.ms),
          target: "large <= 20 ms",
        });
        rows.push({
          what: `  shardgate CPU per drain/undrain, no polling (${algorithm})`,
          small: `10: ${small.cpuMsPerChange.toFixed(2)} ms`,
          large: `5000: ${large.cpuMsPerChange.toFixed(2)} ms`,
          ratio: x(large.cpuMsPerChange / small.cpuMsPerChange),
          target: "flat (cost of the member, not the pool)",
        });
      }
    }
    if (o.only.has("reload")) {
      const r = await measureReload(dir, up, [10, 5000], o.repeats, o.reloads);
      raw.reload = r;
      const [small, large] = r.times;
      if (small !== undefined && large !== undefined)
        rows.push({
          what: "reload adding (or removing) one member, POST /admin/reload",
          small: `10: ${small.ms.toFixed(1)} ms (CPU ${small.cpuMs.toFixed(0)} ms)`,
          large: `5000: ${large.ms.toFixed(1)} ms (CPU ${large.cpuMs.toFixed(0)} ms)`,
          ratio: x(large.ms / small.ms),
          target: "large <= 100 ms",
        });
      for (const variant of ["block", "outside"] as const) {
        // Its own RSS figures are not printed; its warm median (reloads 6-N) is.
        const v = await measureReload(dir, up, [10, 5000], o.repeats, o.reloads, variant);
        raw[`reload-${variant}`] = v;
        const [vs, vl] = v.times;
        if (vs !== undefined && vl !== undefined && large !== undefined)
          rows.push({
            what:
              variant === "block"
                ? "  the same, members in block style (3 lines each: id, address, weight)"
                : "  the same plus a comment edited at the file's top (declined: full load)",
            small: `10: ${vs.ms.toFixed(1)} ms (CPU ${vs.cpuMs.toFixed(0)} ms)`,
            large:
              `5000: ${vl.ms.toFixed(1)} ms (CPU ${vl.cpuMs.toFixed(0)} ms)` +
              (v.rss === null || r.rss === null ? "" : `; warm ${v.rss.warmMs.toFixed(1)} ms`),
            ratio:
              `${x(vl.ms / vs.ms)}; ${x(vl.ms / large.ms)} of flow style` +
              (v.rss === null || r.rss === null ? "" : ` (warm ${x(v.rss.warmMs / r.rss.warmMs)})`),
            target: variant === "block" ? "large <= 100 ms" : "(what a declined reload costs)",
          });
      }
      if (r.rss !== null)
        rows.push({
          what: `RSS over ${r.rss.reloads} reloads of a ${r.rss.members}-member pool`,
          small: `after 5: ${r.rss.afterFive.toFixed(0)} MB`,
          large: `after ${r.rss.reloads}: ${r.rss.afterAll.toFixed(0)} MB (max ${r.rss.max.toFixed(0)} MB)`,
          ratio: `${x(r.rss.afterAll / r.rss.afterFive)} (max ${x(r.rss.max / r.rss.afterFive)})`,
          target: "<= 1.10x",
        });
      if (r.rss !== null) {
        const part = (m: MemoryParts) =>
          `heap ${m.heap.toFixed(0)}, external ${m.external.toFixed(0)}, other ${m.other.toFixed(0)} MB`;
        rows.push({
          what: "  the same, made of: V8 heap committed, external (rings), other (malloc, code, worker)",
          small: part(r.rss.partsAfterFive),
          large: part(r.rss.partsAfterAll),
          ratio: `${r.rss.partsAfterAll.majorGcs - r.rss.partsAfterFive.majorGcs} mark-compacts between`,
          target: "",
        });
      }
      if (r.rss !== null && large !== undefined)
        rows.push({
          what: `  the same reload, warm (median of those reloads 6-${r.rss.reloads})`,
          small: "",
          large: `${r.rss.members}: ${r.rss.warmMs.toFixed(1)} ms`,
          ratio: `${x(r.rss.warmMs / large.ms)} of the timed ones`,
          target: "large <= 100 ms",
        });
    }
    if (o.only.has("reload")) {
      const loads = measureFileLoad([10, 5000], o.repeats);
      raw.reloadFileLoads = loads;
      for (const style of ["flow", "block"] as const) {
        const [small, large] = loads.filter((f) => f.style === style);
        if (small !== undefined && large !== undefined)
          rows.push({
            what: `  reload's file load, in process (CPU, ${style} style): incremental vs full (peer)`,
            small: `10: ${small.incrementalMs.toFixed(2)} vs ${small.fullMs.toFixed(2)} ms`,
            large: `5000: ${large.incrementalMs.toFixed(2)} vs ${large.fullMs.toFixed(2)} ms`,
            ratio: `${x(large.incrementalMs / large.fullMs)} of full at 5000`,
            target: "",
          });
      }
    }
    if (o.only.has("reload")) {
      const figures = measureCommands([10, 5000], o.repeats);
      raw.reloadCommands = figures;
      const [small, large] = figures;
      if (small !== undefined && large !== undefined) {
        const cell = (f: typeof small, ms: number, bytes: number) =>
          `${f.members}: ${ms.toFixed(2)} ms, ${bytes} B`;
        rows.push({
          what: "  reload's command, in process (CPU): SetRouting (peer)",
          small: cell(small, small.setRoutingMs, small.setRoutingBytes),
          large: cell(large, large.setRoutingMs, large.setRoutingBytes),
          ratio: x(large.setRoutingMs / small.setRoutingMs),
          target: "",
        });
        rows.push({
          what: "  reload's command, in process (CPU): PatchRouting",
          small: cell(small, small.patchMs, small.patchBytes),
          large: cell(large, large.patchMs, large.patchBytes),
          ratio: `${x(large.patchMs / small.patchMs)}; ${x(large.patchMs / large.setRoutingMs)} of SetRouting`,
          target: "same state (checked)",
        });
      }
    }
    if (o.only.has("consul")) {
      const figures = await measureConsul(dir, up, [10, 3000], o.repeats);
      raw.consul = figures;
      const [small, large] = figures;
      if (small !== undefined && large !== undefined) {
        rows.push({
          what: `Consul: one instance critical/passing -> applied in /admin/route (debounce ${DEBOUNCE_MS} ms)`,
          small: `10: ${small.ms.toFixed(0)} ms (CPU ${small.cpuMs.toFixed(0)} ms)`,
          large: `3000: ${large.ms.toFixed(0)} ms (CPU ${large.cpuMs.toFixed(0)} ms), RSS +${large.rssFirstChangeMb.toFixed(1)} MB for the first change, +${large.rssGrowthMb.toFixed(0)} MB over ${large.changes}`,
          ratio: x(large.ms / small.ms),
          target: `large <= ${DEBOUNCE_MS + 50} ms`,
        });
        rows.push({
          what: "  of which: the Consul double's answer written (after it marked the check)",
          small: `10: ${small.answerMs.toFixed(1)} ms`,
          large: `3000: ${large.answerMs.toFixed(1)} ms`,
          ratio: x(large.answerMs / small.answerMs),
          target: "(test double, not shardgate)",
        });
        rows.push({
          what: "  idle: proxy CPU per answer that changes no member (another check's output)",
          small: `10: ${small.idleAnswerCpuMs.toFixed(1)} ms`,
          large: `3000: ${large.idleAnswerCpuMs.toFixed(1)} ms`,
          // Below /proc's 10 ms tick over the answers, the small figure can read 0.
          ratio: small.idleAnswerCpuMs > 0 ? x(large.idleAnswerCpuMs / small.idleAnswerCpuMs) : "-",
          target: "(the whole answer is re-sent)",
        });
      }
    }
    if (o.only.has("metrics")) {
      const figures = await measureMetrics(dir, up, {
        sizes: o.sizes,
        scrapes: o.rounds,
        seconds: o.seconds,
        connections: o.connections,
        seed: o.seed,
      });
      raw.metrics = figures;
      for (const mode of ["on", "auto"] as const) {
        const base = figures.find((f) => f.mode === mode && f.members === o.sizes[0]);
        if (base === undefined) continue;
        const cell = (f: typeof base) =>
          `${f.members} (${f.membersWithTraffic} with traffic): ${f.lines} lines, ${(f.bytes / 2 ** 20).toFixed(2)} MB, ${f.scrapeMs.toFixed(0)} ms, loop stall ${f.loopStallMs.toFixed(0)} ms, request max ${f.requestMaxMs.toFixed(1)} ms (idle ${f.requestMaxIdleMs.toFixed(1)}), RSS ${f.rssMb.toFixed(0)} MB`;
        for (const f of figures) {
          if (f.mode !== mode || f.members === base.members) continue;
          rows.push({
            what: `one /metrics scrape, memberHistograms ${mode}`,
            small: cell(base),
            large: cell(f),
            ratio: `request max ${x(f.requestMaxMs / base.requestMaxMs)}, bytes ${x(f.bytes / base.bytes)}`,
            target: "request max near the peer's; stall 0 (below the 100 ms sampling)",
          });
        }
      }
    }
    if (o.json) console.log(JSON.stringify({ rows, raw }, null, 2));
    else {
      console.log(`scale bench: medians of ${o.rounds} interleaved rounds of ${o.seconds} s; upstream nginx`);
      if (o.only.has("request"))
        console.log(
          `request rows: ${ROUND_WARMUP_RULE}; members on ${o.requestAddresses} of the ${UPSTREAM_PORTS} upstream addresses (--request-addresses); ${describePinning(o.pinning)}`,
        );
      printTable(rows);
    }
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
