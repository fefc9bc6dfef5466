// Differential profile of the scale bench's request row (issue 16): the same shardgate build
// routing pools of 3, 1,000 and 10,000 members over the same nginx, the same keys and the same
// wrk load, each size alone. Prints, per size: req/s, p99, CPU per request, hardware counters
// per request (`perf stat` on the proxy's pid, when perf may read them), sampled self time per
// request by function (sorted by what the largest pool spends more than the smallest), and the
// self time per second of an idle spell after the load (periodic work: timers that walk members).
// A diagnostic, not a row with a target: `npm run bench -- scale-profile [--sizes 3,1000,10000]
// [--keys 10000] [--seconds 6] [--idle 4] [--connections 32] [--top 30] [--keep]`.

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Profile, selfTimes } from "./engine-profile.js";
import { cpuSeconds, hasCommand } from "./proxy-bench.js";
import { runIfMain } from "./run-if-main.js";
import { runWrk, startNginxUpstream, startShardgate } from "./scale/processes.js";
import { SHIPPED_NODE_FLAGS } from "./scale/request-rows.js";

const PERF_EVENTS = [
  "cache-misses",
  "cache-references",
  "LLC-load-misses",
  "dTLB-load-misses",
  "instructions",
];

interface SizeRun {
  size: number;
  rps: number;
  p99ms: number;
  requests: number;
  cpuUs: number;
  /** perf counter -> count over the measured window (absent when perf could not read it). */
  perf: Map<string, number>;
  load: Map<string, number>;
  idle: Map<string, number>;
  idleSeconds: number;
}

/** `perf stat -x,` on `pid` for `seconds`; the counts it could read. */
function perfStat(pid: number, seconds: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!hasCommand("perf")) return Promise.resolve(out);
  return new Promise((resolve) => {
    const child = spawn(
      "perf",
      ["stat", "-x,", "-e", PERF_EVENTS.join(","), "-p", String(pid), "--", "sleep", String(seconds)],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let text = "";
    child.stderr.on("data", (c: Buffer) => {
      text += c.toString();
    });
    child.on("close", () => {
      for (const line of text.split("\n")) {
        const [value, , event] = line.split(",");
        const n = Number(value);
        if (event !== undefined && Number.isFinite(n) && value !== "") out.set(event.replace(/:u$/, ""), n);
      }
      resolve(out);
    });
    child.on("error", () => resolve(out));
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function profileSize(
  dir: string,
  addresses: readonly string[],
  size: number,
  o: { keys: number; seconds: number; idle: number; connections: number; seed: number },
): Promise<SizeRun> {
  const profDir = join(dir, `prof-${size}`);
  const sg = await startShardgate(dir, `size-${size}`, { members: size, algorithm: "ring" }, addresses, [
    "--cpu-prof",
    `--cpu-prof-dir=${profDir}`,
    ...SHIPPED_NODE_FLAGS,
  ]);
  try {
    await runWrk(dir, sg.url, 3, o.connections, o.keys, o.seed);
    const c0 = cpuSeconds(sg.pid);
    const [w, perf] = await Promise.all([
      runWrk(dir, sg.url, o.seconds, o.connections, o.keys, o.seed + 1),
      perfStat(sg.pid, Math.max(1, o.seconds - 1)),
    ]);
    const cpu = cpuSeconds(sg.pid) - c0;
    const loadEnd = performance.now();
    await sleep(o.idle * 1000);
    const stopAt = performance.now();
    await sg.stop();
    const end = performance.now();
    const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
    if (file === undefined) throw new Error(`shardgate (${size} members) wrote no CPU profile`);
    const profile = JSON.parse(readFileSync(join(profDir, file), "utf8")) as Profile;
    const requests = w.rps * o.seconds;
    const idleSeconds = Math.max(0.5, o.idle - 1);
    return {
      size,
      rps: w.rps,
      p99ms: w.p99ms,
      requests,
      cpuUs: (cpu * 1e6) / requests,
      perf,
      // The load window ends where wrk stopped; skip its first and last 5 %.
      load: selfTimes(profile, o.seconds * 0.9, (end - loadEnd) * 1000 + o.seconds * 0.05e6),
      // The idle window: the spell's middle, clear of the load's tail and the shutdown.
      idle: selfTimes(profile, idleSeconds, (end - stopAt) * 1000 + 0.5e6),
      idleSeconds,
    };
  } finally {
    await sg.stop().catch(() => undefined);
  }
}

function fmt(n: number, w = 9): string {
  return (Number.isFinite(n) ? n.toFixed(2) : "-").padStart(w);
}

function diffTable(
  runs: readonly SizeRun[],
  pick: (r: SizeRun) => Map<string, number>,
  per: (r: SizeRun, us: number) => number,
  top: number,
): void {
  const keys = new Set<string>();
  for (const r of runs) for (const k of pick(r).keys()) if (!k.startsWith("(idle)")) keys.add(k);
  const rows = [...keys].map((k) => ({ k, v: runs.map((r) => per(r, pick(r).get(k) ?? 0)) }));
  const d = (x: { v: number[] }) => x.v[x.v.length - 1] - x.v[0];
  rows.sort((a, b) => d(b) - d(a));
  let total = runs.map(() => 0);
  for (const row of rows) total = total.map((t, i) => t + row.v[i]);
  console.log(`${runs.map((r) => `${r.size}`.padStart(9)).join("")} ${"diff".padStart(9)}  function`);
  console.log(
    `${total.map((t) => fmt(t)).join("")} ${fmt(total[total.length - 1] - total[0])}  (all but idle)`,
  );
  for (const row of rows.slice(0, top))
    console.log(`${row.v.map((x) => fmt(x)).join("")} ${fmt(d(row))}  ${row.k}`);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: "string" },
      keys: { type: "string" },
      seconds: { type: "string" },
      idle: { type: "string" },
      connections: { type: "string" },
      top: { type: "string" },
      seed: { type: "string" },
      keep: { type: "boolean" },
    },
  });
  const sizes = (values.sizes ?? "3,1000,10000").split(",").map(Number);
  const o = {
    keys: Number(values.keys ?? 10_000),
    seconds: Number(values.seconds ?? 6),
    idle: Number(values.idle ?? 4),
    connections: Number(values.connections ?? 32),
    seed: Number(values.seed ?? 16),
  };
  const top = Number(values.top ?? 30);
  if (![...sizes, ...Object.values(o), top].every((n) => Number.isFinite(n) && n >= 1)) {
    console.error(
      "usage: npm run bench -- scale-profile [--sizes 3,1000,10000] [--keys N] [--seconds S] [--idle S] [--connections C] [--top N] [--seed N] [--keep]",
    );
    return 2;
  }
  if (!hasCommand("wrk")) {
    console.error("wrk is not installed (apt-get install -y wrk)");
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), "shardgate-scale-profile-"));
  const up = await startNginxUpstream(dir, 4);
  if (typeof up === "string") {
    console.error(up);
    return 2;
  }
  try {
    const runs: SizeRun[] = [];
    for (const size of sizes) runs.push(await profileSize(dir, up.addresses, size, o));
    console.log(
      `scale-profile: ${o.keys} keys, wrk -c${o.connections}, ${o.seconds} s per size, each alone; ${up.label}`,
    );
    console.log("members     req/s    p99 ms  cpu us/req  " + PERF_EVENTS.map((e) => `${e}/req`).join("  "));
    for (const r of runs)
      console.log(
        `${String(r.size).padEnd(8)} ${r.rps.toFixed(0).padStart(8)} ${r.p99ms.toFixed(2).padStart(9)} ${r.cpuUs.toFixed(1).padStart(11)}  ` +
          PERF_EVENTS.map((e) => {
            const n = r.perf.get(e);
            return (n === undefined ? "-" : (n / (r.rps * Math.max(1, o.seconds - 1))).toFixed(1)).padStart(
              e.length + 4,
            );
          }).join("  "),
      );
    console.log(`\nsampled self time, us per request, load window (top ${top} by growth):`);
    diffTable(
      runs,
      (r) => r.load,
      (r, us) => us / r.requests,
      top,
    );
    console.log(`\nsampled self time while idle after the load, ms per second (periodic work):`);
    diffTable(
      runs,
      (r) => r.idle,
      (r, us) => us / 1000 / r.idleSeconds,
      15,
    );
    return 0;
  } finally {
    await up.stop();
    if (values.keep === true) console.log(`profiles kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
