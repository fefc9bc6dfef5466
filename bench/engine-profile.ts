// Where shardgate's CPU per request goes next to the bare undici forwarder's:
// `npm run bench -- engine-profile [--duration 8] [--connections 50]`. Three nginx upstreams;
// each target runs alone (never next to the other) under the same wrk load, with `--cpu-prof`
// and `--trace-gc-nvp`. Prints, per request: self time by function for both (sorted by what
// shardgate spends more), a summary by owner (shardgate's code, undici, Node, GC, native), and
// the young-generation figures (bytes surviving and promoted per request, scavenge time).
// Self time is sampled wall time: on a loaded machine syscalls and GC (whose helper threads
// wait for a core) read high for both; compare the columns, not the absolute numbers.
// `--rounds N`: CPU per request only (no profiler), N interleaved runs per target, per-round
// ratios and their median. `--syscalls`: system calls per request by name (strace -f -c), then
// the writes' shape (calls per request, bytes and buffers per call) over a second traced window.
// `--counts`: asynchronous resources per request by type (async_hooks).
// `--rounds N --baseline DIR`: a third target, shardgate built from another tree (DIR is that
// tree's dist/, e.g. a copy of main's), interleaved with the other two: the per-round ratio of
// this build's CPU per request to that build's, for changes smaller than the rounds' spread.

import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startNginxUpstreams } from "./nginx-upstreams.js";
import { cpuSeconds, freePort, hasCommand, stopChild, waitHttp } from "./proxy-bench.js";
import { runIfMain } from "./run-if-main.js";
import { runWrkScript } from "./wrk.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const EXT = FROM_SOURCE ? ".ts" : ".js";
const PRE = FROM_SOURCE ? ["--import", "tsx"] : [];
// The bare peer has no SIGTERM handler; --cpu-prof writes its profile only on a normal exit.
const EXIT_ON_TERM = 'data:text/javascript,process.on("SIGTERM",()=>process.exit(0))';

const WRK_SCRIPT = `
math.randomseed(1)
request = function()
  return wrk.format(nil, nil, { ["x-user"] = "u" .. math.random(0, 999999) })
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p99_us\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(99)))
end
`;

export interface Profile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
  endTime: number;
}

interface Run {
  name: string;
  /** Requests over the whole run (warm-up included: the GC figures cover it). */
  allRequests: number;
  requests: number;
  rps: number;
  p99ms: number;
  cpuUsPerReq: number;
  /** Self time (us) by "function file", over the measured window. */
  self: Map<string, number>;
  /** Asynchronous resources created per request by async_hooks type (`--counts` runs only). */
  asyncPerReq: Record<string, number> | null;
  /** System calls per request by name, all threads (`--syscalls` runs only: strace -f -c). */
  syscallsPerReq: Record<string, number> | null;
  /** The shape of its writes (`--syscalls` runs only: a second, shorter traced window). */
  writes: WriteShape[] | null;
  gc: {
    scavenges: number;
    survived: number;
    promoted: number;
    pauseMs: number;
    marks: number;
    /** Pause time of the mark-compacts (their final, stop-the-world part) and the longest one. */
    markPauseMs: number;
    maxMarkPauseMs: number;
  };
}

export function shortUrl(url: string): string {
  const u = url.replace(/^file:\/\//, "");
  const i = Math.max(u.lastIndexOf("/dist/"), u.lastIndexOf("/node_modules/"));
  return (i >= 0 ? u.slice(u.indexOf("/", i + 1) + 1) : u).replace(/\.js$/, "");
}

/**
 * Self time by function over the window [endTime - skipEnd - seconds, endTime - skipEnd].
 * `capUs`: the most one sample counts for. A sample's delta is the time since the previous
 * one; on a loaded machine the process (and its sampler) can wait tens of milliseconds for a
 * core, and that whole wait went to whichever function the next sample landed in (one sample
 * of a 10 ns check read as 0.15 us per request). Capped, a row reads the process's running time.
 */
export function selfTimes(
  p: Profile,
  seconds: number,
  skipEndUs: number,
  capUs = Number.POSITIVE_INFINITY,
): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  const to = p.endTime - skipEndUs;
  const from = to - seconds * 1e6;
  let t = p.endTime;
  for (let i = p.samples.length - 1; i >= 0; i--) {
    const d = p.timeDeltas[i] ?? 0;
    if (t >= from && t <= to) {
      const cf = byId.get(p.samples[i])?.callFrame;
      if (cf !== undefined) {
        const k = `${cf.functionName || "(anonymous)"} ${shortUrl(cf.url)}`.trim();
        out.set(k, (out.get(k) ?? 0) + Math.min(d, capUs));
      }
    }
    t -= d;
  }
  return out;
}

function gcFigures(text: string): Run["gc"] {
  const g = {
    scavenges: 0,
    survived: 0,
    promoted: 0,
    pauseMs: 0,
    marks: 0,
    markPauseMs: 0,
    maxMarkPauseMs: 0,
  };
  for (const line of text.split("\n")) {
    const pause = /pause=([\d.]+)/.exec(line);
    if (pause === null) continue;
    g.pauseMs += Number(pause[1]);
    if (!line.includes(" gc=s ")) {
      if (line.includes(" gc=mc ") || line.includes(" gc=mmc ")) {
        const ms = Number(pause[1]);
        g.marks++;
        g.markPauseMs += ms;
        g.maxMarkPauseMs = Math.max(g.maxMarkPauseMs, ms);
      }
      continue;
    }
    g.scavenges++;
    g.survived += Number(/new_space_survived=(\d+)/.exec(line)?.[1] ?? 0);
    g.promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return g;
}

/** Starts one target (its stdout, GC trace and access lines, into `dir`/name.out). */
async function spawnTarget(
  name: "bare-undici" | "shardgate" | "shardgate-baseline",
  upstreams: string[],
  dir: string,
  accessLog: boolean,
  flags: string[],
  env: Record<string, string>,
  /** shardgate's CLI to run (another build's, for the baseline); default this tree's. */
  cli = join(HERE, "..", "proxy", `cli${EXT}`),
): Promise<{ child: ChildProcess; port: number; ready: string }> {
  const port = await freePort();
  let args: string[];
  let ready: string;
  if (name === "bare-undici") {
    args = [...flags, "--import", EXIT_ON_TERM, join(HERE, `proxy-bench${EXT}`)];
    args.push("--role", "bare-undici", "--port", String(port), "--upstreams", upstreams.join(","));
    ready = `http://127.0.0.1:${port}/`;
  } else {
    const admin = await freePort();
    const cfg = join(dir, `${name}.yaml`);
    const members = upstreams.map((a, i) => `      - { id: m${i + 1}, address: "${a}" }`).join("\n");
    writeFileSync(
      cfg,
      `listen:\n  http: 127.0.0.1:${port}\n  admin: 127.0.0.1:${admin}\nlog:\n  level: info\n  accessLog: ${accessLog}\n` +
        `pools:\n  bench:\n    algorithm: ring\n    members:\n${members}\n    healthCheck: { path: /health, interval: 2s }\n` +
        `routes:\n  - match: { pathPrefix: / }\n    pool: bench\n    key: [header:x-user, ip]\n`,
    );
    args = [...flags, cli, "start", "--config", cfg];
    ready = `http://127.0.0.1:${admin}/readyz`;
  }
  // stdout carries the GC trace (and shardgate's access lines, as in the proxy bench's --log-file).
  const fd = openSync(join(dir, `${name}.out`), "w");
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ["ignore", fd, "inherit"],
    env: { ...process.env, ...env },
  });
  closeSync(fd);
  return { child, port, ready };
}

/**
 * CPU per request only (no profiler, no hooks), the targets started once and warmed, then
 * `rounds` measured runs each, interleaved (the order rotates by round) and each target under
 * load alone: the per-round ratios and their median, which a loaded machine moves less than a
 * single pair of runs. With `baselineCli`, another shardgate build runs as a third target.
 */
async function cpuRounds(
  upstreams: string[],
  dir: string,
  seconds: number,
  connections: number,
  accessLog: boolean,
  rounds: number,
  baselineCli: string | null,
): Promise<void> {
  const script = join(dir, "bench.lua");
  const names: Array<"bare-undici" | "shardgate" | "shardgate-baseline"> = ["bare-undici", "shardgate"];
  if (baselineCli !== null) names.push("shardgate-baseline");
  const targets = [];
  try {
    for (const name of names) {
      const cli = name === "shardgate-baseline" && baselineCli !== null ? baselineCli : undefined;
      const t = await spawnTarget(name, upstreams, dir, accessLog, PRE, {}, cli);
      targets.push(t);
      await waitHttp(t.ready);
      await runWrkScript({ url: `http://127.0.0.1:${t.port}/`, script, seconds: 2, connections });
    }
    const n = names.length;
    const cpu: number[][] = names.map(() => []);
    const rps: number[][] = names.map(() => []);
    const col = (i: number, r: number): string =>
      `${cpu[i][r].toFixed(1).padStart(10)} (${rps[i][r].toFixed(0).padStart(6)})`;
    console.log(
      `round  bare-undici us/req (req/s)  shardgate us/req (req/s)  CPU ratio${n > 2 ? "  baseline us/req (req/s)  this / baseline" : ""}  load`,
    );
    for (let r = 0; r < rounds; r++) {
      // Each target goes first in turn (two targets: alternate).
      for (let k = 0; k < n; k++) {
        const i = n === 2 ? (r % 2 === 0 ? k : 1 - k) : (r + k) % n;
        const t = targets[i];
        const pid = t.child.pid ?? 0;
        const c0 = cpuSeconds(pid);
        const j = await runWrkScript({ url: `http://127.0.0.1:${t.port}/`, script, seconds, connections });
        cpu[i].push(((cpuSeconds(pid) - c0) * 1e6) / j.requests);
        rps[i].push(j.requests / (j.duration_us / 1e6));
      }
      const load = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
      const base = n > 2 ? `  ${col(2, r)}  ${(cpu[1][r] / cpu[2][r]).toFixed(3).padStart(15)}` : "";
      console.log(
        `${String(r + 1).padStart(5)}  ${col(0, r)}  ${col(1, r).padStart(24)}  ${(cpu[1][r] / cpu[0][r]).toFixed(3).padStart(9)}${base}  ${load}`,
      );
    }
    const med = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
    const ratios = cpu[1].map((c, r) => c / cpu[0][r]);
    console.log(
      `median: bare-undici ${med(cpu[0]).toFixed(1)} us/req, shardgate ${med(cpu[1]).toFixed(1)} us/req; ` +
        `CPU per request ratio: median of rounds ${med(ratios).toFixed(3)}x, of medians ${(med(cpu[1]) / med(cpu[0])).toFixed(3)}x; ` +
        `req/s ratio ${(med(rps[1]) / med(rps[0])).toFixed(3)}x`,
    );
    if (n > 2) {
      const vsBase = cpu[1].map((c, r) => c / cpu[2][r]);
      const baseVsBare = cpu[2].map((c, r) => c / cpu[0][r]);
      console.log(
        `baseline: ${med(cpu[2]).toFixed(1)} us/req; this build / baseline CPU per request: median of rounds ${med(vsBase).toFixed(3)}x ` +
          `(rounds ${Math.min(...vsBase).toFixed(3)}-${Math.max(...vsBase).toFixed(3)}x); baseline / bare-undici ${med(baseVsBare).toFixed(3)}x`,
      );
    }
  } finally {
    for (const t of targets) await stopChild(t.child);
  }
}

async function profileOne(
  name: "bare-undici" | "shardgate",
  upstreams: string[],
  dir: string,
  seconds: number,
  connections: number,
  accessLog: boolean,
  counts: boolean,
  syscalls: boolean,
  intervalUs: number,
): Promise<Run> {
  const profDir = join(dir, `prof-${name}`);
  const countFile = join(dir, `counts-${name}.json`);
  // A counts run carries the async_hooks counter instead of the profiler (hooks slow every
  // promise, so its CPU figures are not comparable with a profile run's).
  // A syscalls run carries neither (the profiler's sampling signals would be counted).
  const flags = counts
    ? [...PRE, "--import", join(HERE, `async-count${EXT}`)]
    : syscalls
      ? PRE
      : [
          "--cpu-prof",
          `--cpu-prof-dir=${profDir}`,
          `--cpu-prof-interval=${intervalUs}`,
          "--trace-gc-nvp",
          ...PRE,
        ];
  const { child, port, ready } = await spawnTarget(name, upstreams, dir, accessLog, flags, {
    ASYNC_COUNT_FILE: countFile,
  });
  try {
    await waitHttp(ready);
    const url = `http://127.0.0.1:${port}/`;
    const script = join(dir, "bench.lua");
    const warm = await runWrkScript({ url, script, seconds: 2, connections });
    const pid = child.pid ?? 0;
    const tracer = syscalls ? await startStrace(pid, join(dir, `strace-${name}.txt`)) : null;
    const c0 = cpuSeconds(pid);
    const j = await runWrkScript({ url, script, seconds, connections });
    const cpu = cpuSeconds(pid) - c0;
    const traced = tracer === null ? null : await stopStrace(tracer, join(dir, `strace-${name}.txt`));
    const writes = syscalls
      ? await traceWrites(pid, join(dir, `writes-${name}.txt`), port, url, script, connections)
      : null;
    const t0 = Date.now();
    await stopChild(child);
    const shutdownUs = (Date.now() - t0) * 1000;
    const base = {
      name,
      allRequests: warm.requests + j.requests,
      requests: j.requests,
      rps: j.requests / (j.duration_us / 1e6),
      p99ms: j.p99_us / 1000,
      cpuUsPerReq: (cpu * 1e6) / j.requests,
      syscallsPerReq: null,
      writes,
    };
    if (traced !== null) {
      const perReq: Record<string, number> = {};
      for (const [call, n] of Object.entries(traced)) perReq[call] = n / j.requests;
      return { ...base, self: new Map(), asyncPerReq: null, syscallsPerReq: perReq, gc: gcFigures("") };
    }
    if (counts) {
      const c = JSON.parse(readFileSync(countFile, "utf8")) as {
        requests: number;
        perType: Record<string, number>;
        stacks: Array<[string, number]>;
      };
      console.log(`${name}: ${c.requests} requests counted (${j.requests} in the measured run)`);
      for (const [stack, n] of c.stacks)
        console.log(`${name}: ${(n / c.requests).toFixed(2)} per request from\n${stack}\n`);
      const asyncPerReq: Record<string, number> = {};
      for (const [type, n] of Object.entries(c.perType)) asyncPerReq[type] = n / c.requests;
      return { ...base, self: new Map(), asyncPerReq, gc: gcFigures("") };
    }
    const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
    if (file === undefined) throw new Error(`${name} wrote no CPU profile`);
    const profile = JSON.parse(readFileSync(join(profDir, file), "utf8")) as Profile;
    return {
      ...base,
      asyncPerReq: null,
      self: selfTimes(profile, (j.duration_us / 1e6) * 0.95, shutdownUs, 2 * intervalUs),
      gc: gcFigures(readFileSync(join(dir, `${name}.out`), "utf8")),
    };
  } finally {
    await stopChild(child);
  }
}

/** strace -f -c attached to `pid` (every thread: libuv's pool, V8's, the main one). */
async function startStrace(pid: number, out: string, what: string[] = ["-c"]): Promise<ChildProcess> {
  const tracer = spawn("strace", ["-f", ...what, "-o", out, "-p", String(pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  // strace says "Process N attached" per thread once it holds them all.
  await new Promise<void>((resolve, reject) => {
    let text = "";
    const t = setTimeout(resolve, 3000);
    tracer.once("error", reject);
    tracer.stderr?.on("data", (b: Buffer) => {
      text += b.toString();
      if (text.includes("attached")) {
        clearTimeout(t);
        setTimeout(resolve, 200);
      }
    });
  });
  return tracer;
}

/** Detaches strace and reads its summary: calls by system call name. */
async function stopStrace(tracer: ChildProcess, out: string): Promise<Record<string, number>> {
  const exited = new Promise((r) => tracer.once("exit", r));
  tracer.kill("SIGINT");
  await exited;
  const calls: Record<string, number> = {};
  for (const line of readFileSync(out, "utf8").split("\n")) {
    // % time  seconds  usecs/call  calls  [errors]  syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m !== null && m[2] !== "total") calls[m[2]] = Number(m[1]);
  }
  return calls;
}

/** Writes of one kind (write or writev) to one kind of destination over a traced window. */
export interface WriteShape {
  call: string;
  /** "client" (a socket on the target's port), "upstream" (another TCP socket), "eventfd", "other" (files, pipes, stdout). */
  to: string;
  perRequest: number;
  bytesPerCall: number;
  buffersPerCall: number;
}

/**
 * The shape of a target's writes, from a second traced window of WRITE_TRACE_S seconds (strace
 * cannot attach twice, and the counting run's `-c` keeps no arguments): calls per request,
 * bytes per call and, for writev, buffers per call, by call and destination. Answers "does one
 * forwarder write differently" where the call counts are equal.
 */
async function traceWrites(
  pid: number,
  out: string,
  port: number,
  url: string,
  script: string,
  connections: number,
): Promise<WriteShape[]> {
  // -yy: each descriptor with what it is (TCP:[local->remote], anon_inode:[eventfd], a path).
  const tracer = await startStrace(pid, out, [
    "-yy",
    "-e",
    "trace=write,writev",
    "-e",
    "signal=none",
    "-s",
    "0",
  ]);
  const j = await runWrkScript({ url, script, seconds: WRITE_TRACE_S, connections });
  const exited = new Promise((r) => tracer.once("exit", r));
  tracer.kill("SIGINT");
  await exited;
  return writeShapes(readFileSync(out, "utf8"), j.requests, port);
}

const WRITE_TRACE_S = 2;

/** Where a descriptor strace -yy described goes: the client (a socket on `port`), an upstream, an eventfd, or other. */
function destination(what: string | undefined, port: number): string {
  if (what === undefined) return "other";
  const tcp = /^TCP6?:\[(.*):(\d+)->/.exec(what);
  if (tcp !== null) return Number(tcp[2]) === port ? "client" : "upstream";
  return what.includes("eventfd") ? "eventfd" : "other";
}

/**
 * Parses `strace -f -yy -e trace=write,writev -s 0` lines (an unfinished call joined to its
 * resumption): per call and destination, calls per request, bytes and buffers per call.
 */
export function writeShapes(text: string, requests: number, port: number): WriteShape[] {
  const pending = new Map<string, string>();
  const sums = new Map<string, { call: string; to: string; calls: number; bytes: number; buffers: number }>();
  for (const raw of text.split("\n")) {
    let line = raw;
    const unfinished = /^(\d+)\s+(.*) <unfinished \.\.\.>$/.exec(line);
    if (unfinished !== null) {
      pending.set(unfinished[1], unfinished[2]);
      continue;
    }
    const resumed = /^(\d+)\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (resumed !== null) {
      const head = pending.get(resumed[1]);
      if (head === undefined) continue;
      pending.delete(resumed[1]);
      line = `${resumed[1]} ${head}${resumed[2]}`;
    }
    // [pid] call(fd<what>, ..., count-or-iovcnt) = result
    const m = /^(?:\d+\s+)?(writev?)\(\d+(?:<(.*?)>)?,.*, (\d+)\)\s+=\s+(-?\d+)/.exec(line);
    if (m === null || Number(m[4]) < 0) continue;
    const call = m[1];
    const to = destination(m[2], port);
    const key = `${call} ${to}`;
    const e = sums.get(key) ?? { call, to, calls: 0, bytes: 0, buffers: 0 };
    e.calls++;
    e.bytes += Number(m[4]);
    e.buffers += call === "writev" ? Number(m[3]) : 1;
    sums.set(key, e);
  }
  return [...sums.values()].map((e) => ({
    call: e.call,
    to: e.to,
    perRequest: requests > 0 ? e.calls / requests : 0,
    bytesPerCall: e.bytes / e.calls,
    buffersPerCall: e.buffers / e.calls,
  }));
}

/** System calls per request, by name, for both targets (a `--syscalls` run). */
function reportSyscalls(a: Run, b: Run): void {
  console.log("target        req/s  (under strace: slower, only the counts mean anything)");
  for (const r of [a, b]) console.log(`${r.name.padEnd(12)} ${r.rps.toFixed(0).padStart(6)}`);
  console.log(`\nsystem calls per request, all threads (${a.name} | ${b.name} | difference):`);
  const names = new Set([...Object.keys(a.syscallsPerReq ?? {}), ...Object.keys(b.syscallsPerReq ?? {})]);
  let ta = 0;
  let tb = 0;
  const rows = [...names].map((n) => [n, a.syscallsPerReq?.[n] ?? 0, b.syscallsPerReq?.[n] ?? 0] as const);
  rows.sort((p, q) => q[2] - q[1] - (p[2] - p[1]));
  for (const [n, x, y] of rows) {
    ta += x;
    tb += y;
    if (x >= 0.005 || y >= 0.005)
      console.log(
        `${x.toFixed(3).padStart(8)} ${y.toFixed(3).padStart(8)} ${(y - x).toFixed(3).padStart(8)}  ${n}`,
      );
  }
  console.log(
    `${ta.toFixed(3).padStart(8)} ${tb.toFixed(3).padStart(8)} ${(tb - ta).toFixed(3).padStart(8)}  total`,
  );
  console.log(
    `\nwrites over a second traced window of ${WRITE_TRACE_S} s: per request, bytes per call, buffers per call (${a.name} | ${b.name}):`,
  );
  const kinds = new Set([...(a.writes ?? []), ...(b.writes ?? [])].map((w) => `${w.call} ${w.to}`));
  const cell = (w: WriteShape | undefined): string =>
    w === undefined
      ? "-".padStart(22)
      : `${w.perRequest.toFixed(3).padStart(7)} ${w.bytesPerCall.toFixed(0).padStart(7)} B ${w.buffersPerCall.toFixed(2).padStart(5)}`;
  for (const k of [...kinds].sort()) {
    const find = (r: Run) => r.writes?.find((w) => `${w.call} ${w.to}` === k);
    console.log(`${cell(find(a))}   ${cell(find(b))}   ${k}`);
  }
}

function owner(key: string): string {
  if (key.startsWith("(garbage collector)")) return "GC";
  if (key.startsWith("(idle)")) return "idle";
  if (key.startsWith("(program)")) return "V8 (program)";
  const space = key.indexOf(" ");
  if (space < 0) return "native (syscalls, builtins)";
  const file = key.slice(space + 1);
  if (/^(proxy|ring|health|config)\//.test(file)) return "shardgate";
  if (file.startsWith("bench/")) return "bare forwarder";
  if (file.startsWith("undici/")) return "undici";
  if (file.startsWith("node:")) return "Node (JS)";
  return "other libraries";
}

/** Asynchronous resources per request, by type, for both targets (a `--counts` run). */
function reportCounts(a: Run, b: Run): void {
  console.log(
    `async resources created per request, by async_hooks type (${a.name} | ${b.name} | difference):`,
  );
  const types = new Set([...Object.keys(a.asyncPerReq ?? {}), ...Object.keys(b.asyncPerReq ?? {})]);
  const rows = [...types].map((t) => [t, a.asyncPerReq?.[t] ?? 0, b.asyncPerReq?.[t] ?? 0] as const);
  rows.sort((p, q) => q[2] - q[1] - (p[2] - p[1]));
  for (const [t, x, y] of rows)
    if (x >= 0.005 || y >= 0.005)
      console.log(
        `${x.toFixed(2).padStart(8)} ${y.toFixed(2).padStart(8)} ${(y - x).toFixed(2).padStart(8)}  ${t}`,
      );
}

function report(a: Run, b: Run, top: number): void {
  const per = (r: Run, us: number): number => us / r.requests;
  console.log("target        req/s    p99 ms  cpu us/req (from /proc)");
  for (const r of [a, b])
    console.log(
      `${r.name.padEnd(12)} ${r.rps.toFixed(0).padStart(6)} ${r.p99ms.toFixed(1).padStart(9)} ${r.cpuUsPerReq.toFixed(1).padStart(10)}`,
    );
  console.log(`\nsampled self time, us per request (${a.name} | ${b.name} | difference), by owner:`);
  const owners = new Map<string, [number, number]>();
  for (const [r, i] of [
    [a, 0],
    [b, 1],
  ] as const)
    for (const [k, us] of r.self) {
      const o = owner(k);
      const v = owners.get(o) ?? [0, 0];
      v[i] += per(r, us);
      owners.set(o, v);
    }
  for (const [o, [x, y]] of [...owners].sort((p, q) => q[1][1] - q[1][0] - (p[1][1] - p[1][0])))
    console.log(
      `${x.toFixed(2).padStart(8)} ${y.toFixed(2).padStart(8)} ${(y - x).toFixed(2).padStart(8)}  ${o}`,
    );
  console.log(`\nby function (top ${top} by difference):`);
  const keys = new Set([...a.self.keys(), ...b.self.keys()]);
  const rows = [...keys]
    .filter((k) => !k.startsWith("(idle)"))
    .map((k) => [k, per(a, a.self.get(k) ?? 0), per(b, b.self.get(k) ?? 0)] as const)
    .sort((p, q) => q[2] - q[1] - (p[2] - p[1]))
    .slice(0, top);
  for (const [k, x, y] of rows)
    console.log(
      `${x.toFixed(2).padStart(8)} ${y.toFixed(2).padStart(8)} ${(y - x).toFixed(2).padStart(8)}  ${k}`,
    );
  console.log("\nyoung generation over the whole run (warm-up included), per request:");
  console.log(
    "target        scavenges/1k req  survived B  promoted B  GC pause us  mark-compacts (per 10k req, longest pause ms)",
  );
  for (const r of [a, b]) {
    const n = r.allRequests;
    console.log(
      `${r.name.padEnd(12)} ${((r.gc.scavenges * 1000) / n).toFixed(2).padStart(16)} ${(r.gc.survived / n).toFixed(0).padStart(11)} ${(r.gc.promoted / n).toFixed(0).padStart(11)} ${((r.gc.pauseMs * 1000) / n).toFixed(1).padStart(12)} ${String(r.gc.marks).padStart(14)} (${((r.gc.marks * 10_000) / n).toFixed(2)}, ${r.gc.maxMarkPauseMs.toFixed(1)})`,
    );
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string" },
      connections: { type: "string" },
      top: { type: "string" },
      // Experiments: shardgate with its access log off (what the log costs per request).
      "access-log": { type: "string" },
      // Counts asynchronous resources per request (promises, microtasks, ticks, timers) instead of profiling.
      counts: { type: "boolean" },
      // Counts system calls per request (strace -f -c over the measured run) instead of profiling.
      syscalls: { type: "boolean" },
      // CPU per request only, over N interleaved rounds per target (no profile): the steadier ratio.
      rounds: { type: "string" },
      // Keeps the profiles (.cpuprofile, GC traces) and prints where: for line-level reading.
      keep: { type: "boolean" },
      // With --rounds: another shardgate build's dist/ directory, run as a third target.
      baseline: { type: "string" },
      // The profiler's sampling interval in microseconds (Node's default is 1,000).
      interval: { type: "string" },
    },
  });
  const accessLog = (values["access-log"] ?? "on") !== "off";
  const seconds = Number(values.duration ?? 8);
  const connections = Number(values.connections ?? 50);
  const top = Number(values.top ?? 40);
  const intervalUs = Number(values.interval ?? 100);
  if (![seconds, connections, top, intervalUs].every((n) => Number.isFinite(n) && n >= 1)) {
    console.error(
      "usage: npm run bench -- engine-profile [--duration S] [--connections C] [--top N] [--interval US] [--access-log on|off] [--counts | --syscalls | --rounds N [--baseline DIST]] [--keep]",
    );
    return 2;
  }
  for (const cmd of ["nginx", "wrk"])
    if (!hasCommand(cmd)) {
      console.error(`${cmd} is not installed (apt-get install -y ${cmd})`);
      return 2;
    }
  const dir = mkdtempSync(join(tmpdir(), "shardgate-engine-profile-"));
  writeFileSync(join(dir, "bench.lua"), WRK_SCRIPT);
  const ports = [await freePort(), await freePort(), await freePort()];
  const ups = startNginxUpstreams(dir, ports);
  try {
    await waitHttp(`http://${ups.addresses[0]}/`);
    console.log(
      `upstreams: 3 nginx servers (one process, 1 worker); wrk -t1 -c${connections}, ${seconds} s each, alone; shardgate's access log ${accessLog ? "on" : "off"}`,
    );
    const rounds = Number(values.rounds ?? 0);
    if (rounds >= 1) {
      const baseline = values.baseline === undefined ? null : resolve(values.baseline, "proxy", `cli${EXT}`);
      if (baseline !== null && !existsSync(baseline)) {
        console.error(`--baseline: no ${baseline} (give the other build's dist/ directory)`);
        return 2;
      }
      await cpuRounds(ups.addresses, dir, seconds, connections, accessLog, Math.floor(rounds), baseline);
      return 0;
    }
    const counts = values.counts === true;
    const syscalls = values.syscalls === true && !counts;
    if (syscalls && !hasCommand("strace")) {
      console.error("strace is not installed (apt-get install -y strace)");
      return 2;
    }
    const one = (name: "bare-undici" | "shardgate") =>
      profileOne(name, ups.addresses, dir, seconds, connections, accessLog, counts, syscalls, intervalUs);
    const bare = await one("bare-undici");
    const sg = await one("shardgate");
    if (counts) reportCounts(bare, sg);
    else if (syscalls) reportSyscalls(bare, sg);
    else {
      report(bare, sg, top);
      // One sample is the interval over all the run's requests: a row a few times this figure
      // is a few samples, noise rather than a difference.
      const perSample = (r: Run): string => (intervalUs / Math.max(1, r.requests)).toFixed(4);
      console.log(
        `sampling: every ${intervalUs} us (a sample counts for ${2 * intervalUs} us at most); one sample is ` +
          `${perSample(bare)} us per request for bare-undici, ${perSample(sg)} for shardgate`,
      );
    }
    return 0;
  } finally {
    await stopChild(ups.child);
    if (values.keep === true) console.log(`profiles kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
