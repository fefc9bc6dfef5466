// End-to-end proxy benchmark: `npm run bench -- proxy [--duration 3] [--rounds 6]
// [--connections 50] [--client wrk|autocannon] [--variants nginx,node] [--soak 60
// [--soak-warmup 60]] [--log-file] [--nolog-variant] [--skip-edge] [--pin on|off] [--baseline DIST] [--json]`.
// --baseline DIST: shardgate built from another tree (its dist/) runs as `sg-base` in the same rounds.
// --pin on (off by default): every proxy under test on CPU 1, wrk,
// the upstreams and the bench on CPU 0 (bench/cpu-pinning.ts), the same for every target,
// said in the output; per-round shardgate/bare-undici ratios are printed next to the medians.
//
// Each variant names its upstreams (printed in its header): `nginx` = three nginx servers in one
// nginx process (1 worker) answering a small body at once, so the proxies set the pace (the
// default when nginx is installed); `node` = three Node echo upstreams in one child process,
// which share the cores and set the pace themselves (kept as the second, labelled variant).
// Per variant it measures, interleaved round by round so that machine noise hits every target
// alike: (a) `bare-h3`, a bare http-proxy-3 forwarder with a keep-alive agent per member,
// (b) `bare-undici`, a bare undici forwarder (a Pool per member, pool.stream; bare-undici.ts),
// (c) a real shardgate process on its default undici engine (metrics on, access log on, lines
// to /dev/null or with --log-file to a file), (c') `sg-h3`, the same on the http-proxy-3
// engine (SHARDGATE_ENGINE=http-proxy), (d) nginx with `hash $http_x_user consistent` when nginx is installed,
// and with --nolog-variant (e) shardgate with the access log off. Every request carries a random
// x-user key. Reports req/s, p50, p99, proxy CPU (cores and per request, from /proc) and RSS,
// and the ratios of shardgate to each peer. The edge rows and the soak run with the first
// variant only. Targets are reported, never asserted. `--soak S` starts a fresh shardgate, reads its cold RSS,
// runs a full-load warm-up (--soak-warmup, default 60 s: V8 defers its first major GC for about
// 35-40 s of full load and sizes its heap in the first cycles, RSS ~80 MB idle -> ~150 MB here,
// printed as the cold-start figure, not hidden) and then an S-second full-load run, sampling
// RSS every second or so. It prints the growth two ways: by window means (last quarter of the
// samples over the first: a GC'd process's RSS is a sawtooth) and by single samples (end over
// start), with the max and the slope of the second half (MB/min, least squares), which is what
// a leak shows as.
//
// The same file is also the child processes' entry point (`--role upstreams|bare|bare-undici`), so the
// upstreams and the bare forwarders never share a process (or an event loop) with the client.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer } from "node:http";
import { createRequire } from "node:module";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createProxyServer } from "http-proxy-3";
import { errorText } from "../config/coded-error.js";
import { startEchoUpstream } from "../proxy/app/echo-upstream.js";
import { hashKey } from "../ring/hash.js";
import { seededRandom } from "../ring/random.js";
import { shardgateArgv } from "../test/support/shardgate-process.js";
import { AllocWindow, allocMeterEnv, meterMiddle } from "./alloc-window.js";
import { roleBareUndici } from "./bare-undici.js";
import { choosePinning, describePinning, type Pinning, pinProcess } from "./cpu-pinning.js";
import { CpuSpeedProbe } from "./cpu-speed.js";
import { edgeRatios, startEdgeTargets } from "./edge-targets.js";
import { RoundMeter } from "./machine-load.js";
import { nginxHashProxyConfig, startNginxUpstreams } from "./nginx-upstreams.js";
import {
  correlation,
  DEFAULT_METHOD,
  type MethodOptions,
  pairVerdicts,
  type Round,
  RPS_P99_CPU,
  roundLine,
  runRounds,
  verdictLines,
} from "./round-verdict.js";
import { runWrkScript } from "./wrk.js";

// autocannon ships no type declarations; this is the slice of its API the bench uses.
interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const THIS_FILE = fileURLToPath(import.meta.url);
const FROM_SOURCE = THIS_FILE.endsWith(".ts");
const KEY_HEADER = "x-user";
const UPSTREAMS = 3;

// ------------------------------------------------------------------------ child roles

async function roleUpstreams(count: number): Promise<void> {
  const addrs: string[] = [];
  for (let i = 0; i < count; i++) addrs.push((await startEchoUpstream(`m${i + 1}`)).address);
  process.stdout.write(`${JSON.stringify({ upstreams: addrs })}\n`);
}

/**
 * The peer: what a minimal sharding forwarder on http-proxy-3 costs (hash, pick, forward).
 * Like with like: its agent has exactly shardgate's per-member agent settings
 * (proxy/forward/endpoints.ts: keep-alive, 256 sockets, 64 idle, LIFO, 4 s idle timeout), and
 * its targets are parsed once at start, as shardgate's are, not re-parsed from a URL string
 * on every request. It stays on http-proxy-3's public `web()` with its default path handling.
 */
async function roleBare(port: number, upstreams: string[]): Promise<void> {
  const targets = upstreams.map((a) => {
    const u = new URL(`http://${a}`);
    return {
      target: { host: u.hostname, port: Number(u.port), protocol: u.protocol },
      prependPath: false,
      agent: new Agent({
        keepAlive: true,
        maxSockets: 256,
        maxFreeSockets: 64,
        scheduling: "lifo",
        timeout: 4000,
      }),
    };
  });
  const proxy = createProxyServer({ xfwd: true });
  proxy.on("error", (_err, _req, res) => {
    if ("writeHead" in res && !res.headersSent) {
      res.writeHead(502);
      res.end();
    } else res.destroy();
  });
  const server = createServer((req, res) => {
    const key = req.headers[KEY_HEADER];
    const i = typeof key === "string" ? hashKey(key) % targets.length : 0;
    proxy.web(req, res, targets[i]);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
}

// ------------------------------------------------------------------------ process helpers

function childArgv(args: string[]): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [...(FROM_SOURCE ? ["--import", "tsx"] : []), THIS_FILE, ...args],
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Spawns a child and resolves with its first stdout JSON line. */
function spawnWithLine(
  argv: { command: string; args: string[] },
  timeoutMs = 20_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv.command, argv.args, { stdio: ["ignore", "pipe", "inherit"], env });
    let buf = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child ${argv.args.join(" ")} printed nothing within ${timeoutMs}ms`));
    }, timeoutMs);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (c: string) => {
      buf += c;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout?.removeAllListeners("data");
      child.stdout?.resume();
      resolve({ child, line: JSON.parse(buf.slice(0, nl)) as Record<string, unknown> });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`child ${argv.args.join(" ")} exited with ${code}`));
    });
  });
}

export async function waitHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs}ms (${last})`);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(t);
}

const CLK_TCK = 100; // Linux USER_HZ; /proc/PID/stat times are in these ticks.

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
}

// ------------------------------------------------------------------------ targets

export interface Target {
  /** bare-h3, bare-undici, shardgate, shardgate-nolog, nginx, or an edge row (bench/edge-targets.ts). */
  name: string;
  url: string;
  /** Headers every request carries besides the key (an affinity cookie). */
  headers?: Record<string, string>;
  /** Keys drawn from this many distinct values (default 1,000,000). */
  keySpace?: number;
  pid: number;
  /** shardgate's admin /metrics (the soak reads its V8 heap figures there). */
  metricsUrl?: string;
  /** The bytes-allocated meter loaded into this Node process (bench/alloc-meter.ts), if any. */
  alloc?: AllocWindow;
  stop(): Promise<void>;
}

async function startBare(upstreams: string[], name: "bare-h3" | "bare-undici", dir: string): Promise<Target> {
  const port = await freePort();
  const role = name === "bare-h3" ? "bare" : "bare-undici";
  const allocFile = join(dir, `alloc-${name}.jsonl`);
  const { child } = await spawnWithLine(
    childArgv(["--role", role, "--port", String(port), "--upstreams", upstreams.join(",")]),
    20_000,
    allocMeterEnv(allocFile),
  );
  return {
    name,
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid ?? 0,
    alloc: new AllocWindow(child.pid ?? 0, allocFile),
    stop: () => stopChild(child),
  };
}

async function startShardgate(
  upstreams: string[],
  dir: string,
  logToFile: boolean,
  accessLog = true,
  engine: "http-proxy" | "undici" = "undici",
  /** Another build's dist/ (--baseline): the target `sg-base`, the same config on that build. */
  baseline?: string,
): Promise<Target> {
  const [http, admin] = [await freePort(), await freePort()];
  const members = upstreams.map((a, i) => `      - { id: m${i + 1}, address: "${a}" }`).join("\n");
  const tag = `${accessLog ? "log" : "nolog"}-${engine}${baseline === undefined ? "" : "-base"}`;
  const configPath = join(dir, `shardgate-${tag}.yaml`);
  writeFileSync(
    configPath,
    `listen:\n  http: 127.0.0.1:${http}\n  admin: 127.0.0.1:${admin}\nlog:\n  level: info\n  accessLog: ${accessLog}\n` +
      `pools:\n  bench:\n    algorithm: ring\n    members:\n${members}\n    healthCheck: { path: /health, interval: 2s }\n` +
      `routes:\n  - match: { pathPrefix: / }\n    pool: bench\n    key: [header:${KEY_HEADER}, ip]\n`,
  );
  // The access log is on; by default its lines go to /dev/null, so what is measured is the cost
  // shardgate owns (building and serializing each line, the write calls), not the disk's.
  // --log-file writes a real file in the bench's temp folder instead.
  const logFd = openSync(logToFile ? join(dir, `shardgate-${tag}.log`) : "/dev/null", "w");
  const argv =
    baseline === undefined
      ? shardgateArgv(["start", "--config", configPath])
      : {
          command: process.execPath,
          args: [join(baseline, "proxy", "cli.js"), "start", "--config", configPath],
        };
  const allocFile = join(dir, `alloc-shardgate-${tag}.jsonl`);
  const child = spawn(argv.command, argv.args, {
    stdio: ["ignore", logFd, "inherit"],
    env: allocMeterEnv(allocFile, { ...process.env, SHARDGATE_ENGINE: engine }),
  });
  closeSync(logFd);
  // Up to 60 s: on a loaded shared machine a start has taken more than 20 s.
  await waitHttp(`http://127.0.0.1:${admin}/readyz`, 60_000);
  return {
    name:
      baseline !== undefined
        ? "sg-base"
        : engine === "http-proxy"
          ? "sg-h3"
          : accessLog
            ? "shardgate"
            : "shardgate-nolog",
    url: `http://127.0.0.1:${http}/`,
    pid: child.pid ?? 0,
    metricsUrl: `http://127.0.0.1:${admin}/metrics`,
    alloc: new AllocWindow(child.pid ?? 0, allocFile),
    stop: () => stopChild(child),
  };
}

export function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function startNginx(upstreams: string[], dir: string): Promise<Target | string> {
  if (!hasCommand("nginx")) return "nginx not installed (apt-get install -y nginx)";
  const port = await freePort();
  const prefix = join(dir, "nginx");
  rmSync(prefix, { recursive: true, force: true });
  execFileSync("mkdir", ["-p", join(prefix, "logs"), join(prefix, "tmp")]);
  // One worker process, no master: the same single core budget a Node process has.
  writeFileSync(join(prefix, "nginx.conf"), nginxHashProxyConfig(prefix, port, upstreams));
  const child = spawn(
    "nginx",
    ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "logs/error.log")],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  try {
    await waitHttp(`http://127.0.0.1:${port}/`, 10_000);
  } catch (err) {
    await stopChild(child);
    return `nginx failed to start: ${String(err)} ${stderr}`;
  }
  return {
    name: "nginx",
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid ?? 0,
    stop: () => stopChild(child),
  };
}

// ------------------------------------------------------------------------ load clients

interface LoadResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
}

/** Seeded key stream: every request gets a fresh pseudo-random x-user value (the 32-bit draw mod keySpace). */
function keyStream(seed: number, keySpace = 1_000_000): () => string {
  const random = seededRandom(seed);
  return () => `u${Math.floor(random() * 4294967296) % keySpace}`;
}

async function loadAutocannon(
  t: Target,
  seconds: number,
  connections: number,
  seed: number,
): Promise<LoadResult> {
  const next = keyStream(seed, t.keySpace);
  const extra = t.headers ?? {};
  const result = await autocannon({
    url: t.url,
    connections,
    duration: seconds,
    requests: [
      {
        setupRequest: (req: Record<string, unknown>) => {
          req.headers = { ...extra, [KEY_HEADER]: next() };
          return req;
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const WRK_SCRIPT = `
math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1"))
local space = tonumber(os.getenv("BENCH_KEYSPACE") or "1000000")
local cookie = os.getenv("BENCH_COOKIE") or ""
request = function()
  local h = { ["${KEY_HEADER}"] = "u" .. math.random(0, space - 1) }
  if cookie ~= "" then h["cookie"] = cookie end
  return wrk.format(nil, nil, h)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"errors\\":%d,\\"non2xx\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;

async function loadWrk(
  t: Target,
  seconds: number,
  connections: number,
  seed: number,
  dir: string,
  cpu: number | undefined,
): Promise<LoadResult> {
  const script = join(dir, "bench.lua");
  if (!existsSync(script)) writeFileSync(script, WRK_SCRIPT);
  const j = await runWrkScript({
    url: t.url,
    script,
    seconds,
    connections,
    cpu,
    env: {
      BENCH_SEED: String(seed),
      BENCH_KEYSPACE: String(t.keySpace ?? 1_000_000),
      BENCH_COOKIE: t.headers?.cookie ?? "",
    },
  });
  return {
    rps: j.requests / (j.duration_us / 1e6),
    p50ms: j.p50_us / 1000,
    p99ms: j.p99_us / 1000,
    errors: j.errors,
    non2xx: j.non2xx,
  };
}

// ------------------------------------------------------------------------ the run

interface RoundSample extends LoadResult {
  cpuCores: number;
  rssMb: number;
  cpuUsPerReq: number;
  /** What the machine did during the run (machine-load.ts). */
  load: ReturnType<RoundMeter["stop"]>;
  /** GC pause time during the run, ms (shardgate's /metrics; NaN for targets without). */
  gcMs: number;
  /**
   * JS heap bytes allocated per request during the run (bench/alloc-meter.ts; NaN for targets
   * without the meter): counted, not timed, so steady where CPU per request swings.
   */
  allocPerReq: number;
  /** The load run ended before the bytes-allocated window closed (connection tear-down counted). */
  allocPastEnd: boolean;
  /** ALLOC_METER_SITES=1: bytes per request by allocating function (bench/alloc-meter.ts). */
  allocSites?: Array<[string, number]>;
}

/** Seconds of GC so far from shardgate's prom-client /metrics (all kinds summed), or NaN. */
async function gcSeconds(metricsUrl: string | undefined): Promise<number> {
  if (metricsUrl === undefined) return Number.NaN;
  try {
    const text = await (await fetch(metricsUrl)).text();
    let sum = 0;
    for (const m of text.matchAll(/^shardgate_nodejs_gc_duration_seconds_sum(?:\{[^}]*\})? (\S+)$/gm))
      sum += Number(m[1]);
    return sum;
  } catch {
    return Number.NaN;
  }
}

interface Summary {
  target: string;
  rounds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  cpuCores: number;
  /** Proxy CPU time per request: comparable even when the shared machine is saturated. */
  cpuUsPerReq: number;
  /** Median over rounds of JS heap bytes allocated per request (NaN without the meter). */
  allocPerReq: number;
  /** Its spread over the rounds: (max - min) / median. */
  allocSpread: number;
  /**
   * The lowest round: what disturbs the count (a starved proxy's per-second work and wrk's
   * reconnects after timeouts, spread over fewer requests) only adds bytes, so the floor is the
   * least disturbed reading.
   */
  allocFloor: number;
  rssMb: number;
  errors: number;
  non2xx: number;
  /** Round-to-round spread: coefficient of variation of req/s and of p99 (what --pin should lower). */
  rpsCv: number;
  p99Cv: number;
}

/** Standard deviation over mean (0 for fewer than two values). */
function cv(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = xs.reduce((a, x) => a + x, 0) / xs.length;
  const v = xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
  return m === 0 ? 0 : Math.sqrt(v) / m;
}

/** (max - min) / median: how far apart the rounds' figures lie (NaN without figures). */
function spread(xs: number[]): number {
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) return Number.NaN;
  return (Math.max(...xs) - Math.min(...xs)) / median(xs);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function measure(
  t: Target,
  seconds: number,
  connections: number,
  seed: number,
  client: "wrk" | "autocannon",
  dir: string,
  pinning: Pinning | null = null,
  probe: CpuSpeedProbe | null = null,
): Promise<RoundSample> {
  const gc0 = await gcSeconds(t.metricsUrl);
  const meter = new RoundMeter(probe);
  meter.start();
  const cpu0 = cpuSeconds(t.pid);
  const t0 = process.hrtime.bigint();
  const running =
    client === "wrk"
      ? loadWrk(t, seconds, connections, seed, dir, pinning?.loadCpu)
      : loadAutocannon(t, seconds, connections, seed);
  // The bytes-allocated window covers the middle of the run (bench/alloc-window.ts).
  const metering = t.alloc === undefined ? undefined : meterMiddle(t.alloc, seconds, running);
  const r = await running;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuCores = (cpuSeconds(t.pid) - cpu0) / wall;
  const load = meter.stop();
  const alloc = await metering;
  const gcMs = ((await gcSeconds(t.metricsUrl)) - gc0) * 1000;
  return {
    ...r,
    allocPerReq: alloc === undefined || alloc.requests <= 0 ? Number.NaN : alloc.bytes / alloc.requests,
    allocPastEnd: alloc?.pastEnd ?? false,
    allocSites: alloc?.sites?.map(([site, b]): [string, number] => [site, b / alloc.requests]),
    cpuCores,
    cpuUsPerReq: r.rps > 0 ? (cpuCores * 1e6) / r.rps : Number.NaN,
    rssMb: rssBytes(t.pid) / 2 ** 20,
    load,
    gcMs,
  };
}

// ------------------------------------------------------------------------ soak

interface SoakResult {
  method: string;
  warmupSeconds: number;
  seconds: number;
  everySeconds: number;
  /** [seconds since the run started, RSS, V8 heap used, V8 heap total, external] in MB (NaN if unread) */
  samples: Array<[number, number, number, number, number]>;
  /** RSS of the fresh process before any load. */
  rssColdMb: number;
  rssStartMb: number;
  rssEndMb: number;
  rssMaxMb: number;
  /** Mean RSS over the first and the last quarter of the run's samples. */
  rssFirstQuarterMb: number;
  rssLastQuarterMb: number;
  /** Growth by window means: last-quarter mean / first-quarter mean - 1. */
  growth: number;
  /** end / start - 1: two single samples, each at a random phase of the GC sawtooth. */
  pointGrowth: number;
  /** max / first-quarter mean - 1. */
  maxGrowth: number;
  /** Least-squares slope of RSS over the second half of the run, MB per minute. */
  secondHalfMbPerMin: number;
  heapUsedStartMb: number;
  heapUsedEndMb: number;
  /** The same slope for the V8 heap in use: a leak of JS objects shows here. */
  heapSecondHalfMbPerMin: number;
  rps: number;
  errors: number;
}

function soakEveryS(seconds: number): number {
  return Math.max(1, Math.round(seconds / 60));
}

/** One process memory figure (MB) from shardgate's /metrics text, or NaN. */
function metricMb(text: string, name: string): number {
  const m = new RegExp(`^shardgate_${name} (\\S+)$`, "m").exec(text);
  return m === null ? Number.NaN : Number(m[1]) / 2 ** 20;
}

/** V8 heap used, V8 heap reserved and external (Buffers) memory in MB; NaN when unread. */
async function jsMemoryMb(metricsUrl: string | undefined): Promise<[number, number, number]> {
  if (metricsUrl === undefined) return [Number.NaN, Number.NaN, Number.NaN];
  try {
    const text = await (await fetch(metricsUrl)).text();
    return [
      metricMb(text, "nodejs_heap_size_used_bytes"),
      metricMb(text, "nodejs_heap_size_total_bytes"),
      metricMb(text, "nodejs_external_memory_bytes"),
    ];
  } catch {
    return [Number.NaN, Number.NaN, Number.NaN];
  }
}

function slopePerMin(points: ReadonlyArray<readonly [number, number]>): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) * (x - mx);
  }
  return den === 0 ? 0 : (num / den) * 60;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, x) => a + x, 0) / xs.length;
}

/**
 * On a fresh shardgate process (its cold RSS read before any load): a full-load warm-up,
 * excluded, then the measured full-load run with RSS sampled on a timer while the load client
 * runs in its own process. Growth compares the mean of the first quarter of the samples with
 * the mean of the last quarter: under load a V8 process's RSS is a sawtooth (a major GC every
 * second or two), so one sample at each end mostly measures where in the tooth it fell.
 */
async function runSoak(
  t: Target,
  seconds: number,
  warmupSeconds: number,
  load: (seconds: number, seed: number) => Promise<RoundSample>,
  seed: number,
): Promise<SoakResult> {
  const cold = rssBytes(t.pid) / 2 ** 20;
  if (warmupSeconds > 0) await load(warmupSeconds, seed + 5000);
  const every = soakEveryS(seconds);
  const samples: SoakResult["samples"] = [];
  const pending: Array<Promise<void>> = [];
  const t0 = performance.now();
  const sample = () => {
    const at = (performance.now() - t0) / 1000;
    const rss = rssBytes(t.pid) / 2 ** 20;
    pending.push(jsMemoryMb(t.metricsUrl).then((js) => void samples.push([at, rss, ...js])));
  };
  sample();
  const timer = setInterval(sample, every * 1000);
  let r: RoundSample;
  try {
    r = await load(seconds, seed + 5001);
  } finally {
    clearInterval(timer);
  }
  sample();
  await Promise.all(pending);
  samples.sort((a, b) => a[0] - b[0]);
  const mbs = samples.map((p) => p[1]);
  const start = mbs[0];
  const end = mbs[mbs.length - 1];
  const max = Math.max(...mbs);
  const q = Math.max(1, Math.floor(mbs.length / 4));
  const first = mean(mbs.slice(0, q));
  const last = mean(mbs.slice(-q));
  const half = samples.filter((p) => p[0] >= seconds / 2);
  const heapHalf = half.filter((p) => !Number.isNaN(p[2])).map((p) => [p[0], p[2]] as const);
  return {
    method: `fresh process; ${warmupSeconds}s full-load warm-up (excluded), then ${seconds}s full load; RSS from /proc/PID/status and V8 heap from /metrics every ${every}s; growth by window means = mean of the last quarter of the samples / mean of the first quarter - 1, by single samples = end / start - 1; slope = least squares over the second half`,
    warmupSeconds,
    seconds,
    everySeconds: every,
    samples: samples.map((p) => p.map((v) => Math.round(v * 10) / 10) as SoakResult["samples"][number]),
    rssColdMb: cold,
    rssStartMb: start,
    rssEndMb: end,
    rssMaxMb: max,
    rssFirstQuarterMb: first,
    rssLastQuarterMb: last,
    growth: last / first - 1,
    pointGrowth: end / start - 1,
    maxGrowth: max / first - 1,
    secondHalfMbPerMin: slopePerMin(half.map((p) => [p[0], p[1]] as const)),
    heapUsedStartMb: samples[0][2],
    heapUsedEndMb: samples[samples.length - 1][2],
    heapSecondHalfMbPerMin: slopePerMin(heapHalf),
    rps: r.rps,
    errors: r.errors + r.non2xx,
  };
}

function soakLines(x: SoakResult): string[] {
  const pct = (v: number) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(1)}%`;
  return [
    `soak method: ${x.method}`,
    `soak ${x.seconds}s (target: growth < 10%): rss growth by window means ${pct(x.growth)} (first quarter ${x.rssFirstQuarterMb.toFixed(1)} MB, last quarter ${x.rssLastQuarterMb.toFixed(1)} MB), by single samples ${pct(x.pointGrowth)} (start ${x.rssStartMb.toFixed(1)}, end ${x.rssEndMb.toFixed(1)} MB), max ${x.rssMaxMb.toFixed(1)} MB (${pct(x.maxGrowth)}); second-half slope ${x.secondHalfMbPerMin.toFixed(2)} MB/min; ${x.rps.toFixed(0)} req/s, ${x.errors} errors`,
    `soak cold start: rss ${x.rssColdMb.toFixed(1)} MB before any load, ${x.rssStartMb.toFixed(1)} MB after the ${x.warmupSeconds}s warm-up (${pct(x.rssStartMb / x.rssColdMb - 1)}: V8 sizing its heap under load)`,
    `soak V8 heap used: start ${x.heapUsedStartMb.toFixed(1)} MB, end ${x.heapUsedEndMb.toFixed(1)} MB, second-half slope ${x.heapSecondHalfMbPerMin.toFixed(2)} MB/min`,
    `soak samples (s: rss/heapUsed/heapTotal/external MB): ${x.samples.map(([s, ...mb]) => `${s}:${mb.join("/")}`).join(" ")}`,
  ];
}

const USAGE =
  "usage: npm run bench -- proxy [--duration S] [--rounds N] [--connections C] [--client wrk|autocannon] [--soak S] [--soak-warmup S] [--seed N] [--log-file] [--nolog-variant] [--skip-edge] [--variants nginx,node] [--pin on|off] [--targets a,b,...] [--max-outside-cpu C] [--max-outside-spread C] [--control-band F] [--speed-band F] [--probe on|off] [--reruns N] [--baseline DIST] [--json]";

export async function run(argv: string[]): Promise<number> {
  let args: { values: Map<string, string>; switches: Set<string> };
  try {
    const parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries([
        ...[
          "duration",
          "rounds",
          "connections",
          "client",
          "soak",
          "soak-warmup",
          "seed",
          "role",
          "port",
          "upstreams",
          "count",
          "variants",
          "pin",
          "targets",
          "max-outside-cpu",
          "max-outside-spread",
          "control-band",
          "speed-band",
          "probe",
          "reruns",
          "baseline",
        ].map((n) => [n, { type: "string" as const }]),
        ["json", { type: "boolean" as const }],
        ["log-file", { type: "boolean" as const }],
        ["nolog-variant", { type: "boolean" as const }],
        ["skip-edge", { type: "boolean" as const }],
      ]),
    });
    const values = new Map<string, string>();
    const switches = new Set<string>();
    for (const [k, v] of Object.entries(parsed.values)) {
      if (typeof v === "string") values.set(k, v);
      else if (v === true) switches.add(k);
    }
    args = { values, switches };
  } catch (err) {
    console.error(`${errorText(err)}\n${USAGE}`);
    return 2;
  }
  const role = args.values.get("role");
  if (role === "upstreams") {
    await roleUpstreams(Number(args.values.get("count") ?? UPSTREAMS));
    return 0;
  }
  if (role === "bare-undici") {
    await roleBareUndici(
      Number(args.values.get("port")),
      (args.values.get("upstreams") ?? "").split(","),
      KEY_HEADER,
    );
    return 0;
  }
  if (role === "bare") {
    await roleBare(Number(args.values.get("port")), (args.values.get("upstreams") ?? "").split(","));
    return 0;
  }
  const num = (name: string, dflt: number, min: number): number | undefined => {
    const v = args.values.get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      console.error(`--${name} expects a number >= ${min}, got "${v}"\n${USAGE}`);
      return undefined;
    }
    return n;
  };
  const seconds = num("duration", 3, 1);
  const rounds = num("rounds", 6, 1);
  const connections = num("connections", 50, 1);
  const soak = num("soak", 0, 0);
  const soakWarmup = num("soak-warmup", 60, 0);
  const seed = num("seed", 1, 0);
  const maxOutside = num("max-outside-cpu", DEFAULT_METHOD.maxOtherCores, 0);
  const controlBand = num("control-band", DEFAULT_METHOD.controlBand, 0);
  const maxSpread = num("max-outside-spread", DEFAULT_METHOD.maxOtherSpread, 0);
  const reruns = num("reruns", DEFAULT_METHOD.maxReruns, 0);
  const speedBand = num("speed-band", DEFAULT_METHOD.speedBand, 0);
  if (
    speedBand === undefined ||
    maxOutside === undefined ||
    maxSpread === undefined ||
    controlBand === undefined ||
    reruns === undefined ||
    seconds === undefined ||
    rounds === undefined ||
    connections === undefined ||
    soak === undefined ||
    soakWarmup === undefined ||
    seed === undefined
  )
    return 2;
  const clientFlag = args.values.get("client");
  if (clientFlag !== undefined && clientFlag !== "wrk" && clientFlag !== "autocannon") {
    console.error(`--client expects wrk or autocannon\n${USAGE}`);
    return 2;
  }
  const client = (clientFlag ?? (hasCommand("wrk") ? "wrk" : "autocannon")) as "wrk" | "autocannon";
  if (client === "wrk" && !hasCommand("wrk")) {
    console.error("wrk is not installed (apt-get install -y wrk); use --client autocannon");
    return 2;
  }
  const json = args.switches.has("json");
  const say = (s: string): void => {
    if (!json) console.log(s);
  };

  const variantsFlag = args.values.get("variants") ?? (hasCommand("nginx") ? "nginx,node" : "node");
  const variants = variantsFlag.split(",");
  if (variants.some((v) => v !== "nginx" && v !== "node")) {
    console.error(`--variants expects a comma list of nginx and node\n${USAGE}`);
    return 2;
  }
  if (variants.includes("nginx") && !hasCommand("nginx")) {
    console.error("nginx is not installed (apt-get install -y nginx); use --variants node");
    return 2;
  }
  // Off by default: pinned, wrk and the upstreams share one CPU, which can cap the fastest
  // target (nginx) below what it serves unpinned; the spread columns say whether pinning
  // steadies the Node proxies' rounds on a given machine.
  const pinFlag = args.values.get("pin") ?? "off";
  if (pinFlag !== "on" && pinFlag !== "off") {
    console.error(`--pin expects on or off\n${USAGE}`);
    return 2;
  }
  const probeFlag = args.values.get("probe") ?? "off";
  if (probeFlag !== "on" && probeFlag !== "off") {
    console.error(`--probe expects on or off\n${USAGE}`);
    return 2;
  }
  const pinChoice =
    pinFlag === "on" ? choosePinning() : args.values.has("pin") ? "--pin off" : "the default; --pin on pins";
  say(describePinning(pinChoice));
  const opts: VariantOptions = {
    client,
    connections,
    seconds,
    rounds,
    seed,
    soak,
    soakWarmup,
    logFile: args.switches.has("log-file"),
    nologVariant: args.switches.has("nolog-variant"),
    skipEdge: args.switches.has("skip-edge"),
    baseline: args.values.get("baseline") ?? null,
    pinning: typeof pinChoice === "string" ? null : pinChoice,
    only: args.values.has("targets") ? new Set((args.values.get("targets") ?? "").split(",")) : null,
    method: {
      ...DEFAULT_METHOD,
      maxOtherCores: maxOutside,
      maxOtherSpread: maxSpread,
      controlBand,
      speedBand,
      maxReruns: reruns,
    },
    probe: null,
    say,
  };
  // The bench process itself (and autocannon, which runs in it) stays off the proxies' CPU.
  if (opts.pinning !== null) pinProcess(process.pid, opts.pinning.loadCpu);
  // The CPU-speed probe calibrates before any target starts (cpu-speed.ts).
  const probe = probeFlag === "on" ? await CpuSpeedProbe.start() : "--probe off";
  if (typeof probe === "string") say(`CPU-speed probe: off (${probe})`);
  else {
    opts.probe = probe;
    say(probe.describe());
  }
  const reports: VariantReport[] = [];
  try {
    for (let i = 0; i < variants.length; i++) {
      // The edge rows and the soak run with the first variant only (they compare shardgate
      // with itself, so the upstreams matter less than for the peers).
      const first = i === 0;
      reports.push(
        await runVariant(variants[i] as UpstreamKind, {
          ...opts,
          soak: first ? soak : 0,
          skipEdge: opts.skipEdge || !first,
        }),
      );
    }
  } finally {
    if (opts.probe !== null) {
      say(
        `CPU-speed probe cost: ${(100 * opts.probe.costPerCore()).toFixed(2)} % of each CPU over the bench`,
      );
      await opts.probe.stop();
    }
  }
  if (json)
    console.log(
      JSON.stringify({
        client,
        connections,
        seconds,
        rounds,
        seed,
        pinning: describePinning(pinChoice),
        probe:
          typeof probe === "string" ? probe : { calibrationUs: probe.calibrationUs, cpus: probe.coreCount },
        variants: reports,
      }),
    );
  return 0;
}

type UpstreamKind = "nginx" | "node";

interface VariantOptions {
  client: "wrk" | "autocannon";
  connections: number;
  seconds: number;
  rounds: number;
  seed: number;
  soak: number;
  soakWarmup: number;
  logFile: boolean;
  nologVariant: boolean;
  skipEdge: boolean;
  /** --baseline: another build's dist/, measured as `sg-base` in the same rounds (null: none). */
  baseline: string | null;
  /** --pin: proxies on one CPU, wrk and upstreams on the other (cpu-pinning.ts); null = off. */
  pinning: Pinning | null;
  /** --targets: the targets measured (null: all). */
  only: Set<string> | null;
  method: MethodOptions;
  /** How fast the CPUs ran during each run (cpu-speed.ts); null = off. */
  probe: CpuSpeedProbe | null;
  say: (s: string) => void;
}

interface Ratio {
  target: string;
  peer: string;
  rps: number;
  p99: number;
  cpuPerReq: number;
  /** Bytes allocated per request, target over peer (NaN when either has no meter). */
  allocPerReq: number;
}

interface VariantReport {
  upstreams: string;
  /** shardgate / bare-undici in each round (the spread the medians hide). */
  roundRatios: RoundRatio[];
  nginxSkipped: string | null;
  results: Summary[];
  ratios: Ratio[];
  targets: Record<string, string>;
  soak: SoakResult | null;
  edge: ReturnType<typeof edgeRatios>;
  method?: MethodOptions;
  verdicts?: ReturnType<typeof pairVerdicts>;
  disturbed?: Array<{ round: number; why: string[] }>;
}

/**
 * Where a pair's round-to-round spread comes from: the per-round ratio next to what differed
 * between the two runs of that round (outside CPU, the load client's CPU, shardgate's GC),
 * as correlations over the rounds, and the control's own spread.
 */
function noiseLines(
  rounds: ReadonlyArray<Round<RoundSample>>,
  a: string,
  b: string,
  control: string | undefined,
): string[] {
  const both = rounds.filter((r) => r.samples.has(a) && r.samples.has(b));
  const get = (r: Round<RoundSample>, n: string) => r.samples.get(n) as RoundSample;
  const ratio = both.map((r) => get(r, a).rps / get(r, b).rps);
  const p99 = both.map((r) => get(r, a).p99ms / get(r, b).p99ms);
  const dOut = both.map((r) => get(r, a).load.otherCores - get(r, b).load.otherCores);
  const dHigh = both.map((r) => get(r, a).load.higherPriorityCores - get(r, b).load.higherPriorityCores);
  const dWrk = both.map((r) => get(r, a).load.clientCores - get(r, b).load.clientCores);
  const gc = both.map((r) => get(r, a).gcMs);
  const c2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");
  const lines = [
    `noise sources (${both.length} rounds; r = correlation over rounds with the ${a}/${b} ratio):`,
    `  outside CPU during ${a} minus during ${b}: ${Math.min(...dOut).toFixed(2)} to ${Math.max(...dOut).toFixed(2)} cores; r(req/s ratio) ${c2(correlation(dOut, ratio))}, r(p99 ratio) ${c2(correlation(dOut, p99))}`,
    `  of which at a lower nice than the bench: ${Math.min(...dHigh).toFixed(2)} to ${Math.max(...dHigh).toFixed(2)} cores; r(req/s ratio) ${c2(correlation(dHigh, ratio))}`,
    `  wrk CPU during ${a} minus during ${b}: ${Math.min(...dWrk).toFixed(2)} to ${Math.max(...dWrk).toFixed(2)} cores; r(req/s ratio) ${c2(correlation(dWrk, ratio))}`,
  ];
  if (gc.every((x) => Number.isFinite(x)))
    lines.push(
      `  ${a} GC pause per run: ${Math.min(...gc).toFixed(0)}-${Math.max(...gc).toFixed(0)} ms; r(req/s ratio) ${c2(correlation(gc, ratio))}, r(p99 ratio) ${c2(correlation(gc, p99))}`,
    );
  if (control !== undefined) {
    const c = rounds.flatMap((r) => (r.samples.has(control) ? [get(r, control).rps] : []));
    lines.push(`  control ${control} req/s: ${Math.min(...c).toFixed(0)}-${Math.max(...c).toFixed(0)}`);
  }
  return lines;
}

const UPSTREAM_LABEL: Record<UpstreamKind, string> = {
  nginx: `${UPSTREAMS} nginx upstreams (one nginx process, 1 worker, a small body at once)`,
  node: `${UPSTREAMS} Node echo upstreams (one child process sharing the cores: they set the pace)`,
};

/** Starts the upstreams of one variant; the stop function goes onto `children`. */
async function startUpstreams(
  kind: UpstreamKind,
  dir: string,
  children: Array<() => Promise<void>>,
  pinning: Pinning | null,
): Promise<string[]> {
  if (kind === "node") {
    const ups = await spawnWithLine(childArgv(["--role", "upstreams", "--count", String(UPSTREAMS)]));
    children.push(() => stopChild(ups.child));
    if (pinning !== null) pinProcess(ups.child.pid ?? 0, pinning.loadCpu);
    return ups.line.upstreams as string[];
  }
  const ports: number[] = [];
  for (let i = 0; i < UPSTREAMS; i++) ports.push(await freePort());
  const ngx = startNginxUpstreams(dir, ports);
  children.push(() => stopChild(ngx.child));
  if (pinning !== null) pinProcess(ngx.child.pid ?? 0, pinning.loadCpu);
  for (const a of ngx.addresses) await waitHttp(`http://${a}/health`, 10_000);
  return ngx.addresses;
}

interface RoundRatio {
  round: number;
  rps: number;
  p99: number;
  cpuPerReq: number;
  allocPerReq: number;
}

/** shardgate / bare-undici round by round (both measured back to back in each round). */
function roundRatios(samples: Map<string, RoundSample[]>): RoundRatio[] {
  const a = samples.get("shardgate") ?? [];
  const b = samples.get("bare-undici") ?? [];
  const out: RoundRatio[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    out.push({
      round: i + 1,
      rps: x.rps / y.rps,
      p99: x.p99ms / y.p99ms,
      cpuPerReq: x.cpuCores / x.rps / (y.cpuCores / y.rps),
      allocPerReq: x.allocPerReq / y.allocPerReq,
    });
  }
  return out;
}

/** Each non-peer row (and the bare undici peer) against each peer measured in the same run. */
function ratioRows(summaries: Summary[]): Ratio[] {
  const by = (n: string) => summaries.find((s) => s.target === n);
  const out: Ratio[] = [];
  const pairs: Array<[string, string]> = [
    ["shardgate", "bare-undici"],
    ["shardgate", "sg-base"],
    ["shardgate", "bare-h3"],
    ["shardgate", "nginx"],
    ["sg-h3", "bare-h3"],
    ["sg-h3", "shardgate"],
    ["bare-undici", "nginx"],
    ["bare-h3", "nginx"],
  ];
  for (const [a, b] of pairs) {
    const x = by(a);
    const y = by(b);
    if (x === undefined || y === undefined) continue;
    out.push({
      target: a,
      peer: b,
      rps: x.rps / y.rps,
      p99: x.p99ms / y.p99ms,
      cpuPerReq: x.cpuUsPerReq / y.cpuUsPerReq,
      allocPerReq: x.allocPerReq / y.allocPerReq,
    });
  }
  return out;
}

async function runVariant(kind: UpstreamKind, o: VariantOptions): Promise<VariantReport> {
  const { client, connections, seconds, rounds, seed, soak, soakWarmup, say, pinning, probe } = o;
  const dir = mkdtempSync(join(tmpdir(), "shardgate-bench-"));
  const children: Array<() => Promise<void>> = [];
  try {
    const upstreams = await startUpstreams(kind, dir, children, pinning);
    const targets: Target[] = [];
    const bare = await startBare(upstreams, "bare-h3", dir);
    children.push(bare.stop);
    targets.push(bare);
    const bareUndici = await startBare(upstreams, "bare-undici", dir);
    children.push(bareUndici.stop);
    targets.push(bareUndici);
    const sg = await startShardgate(upstreams, dir, o.logFile);
    children.push(sg.stop);
    targets.push(sg);
    // The same shardgate on the http-proxy-3 engine (SHARDGATE_ENGINE=http-proxy), the opt-out.
    const sgH3 = await startShardgate(upstreams, dir, o.logFile, true, "http-proxy");
    children.push(sgH3.stop);
    targets.push(sgH3);
    if (o.baseline !== null) {
      // The same shardgate built from another tree: a change smaller than the runs' spread shows
      // against it within one run (bytes per request above all).
      const base = await startShardgate(upstreams, dir, o.logFile, true, "undici", o.baseline);
      children.push(base.stop);
      targets.push(base);
    }
    if (o.nologVariant) {
      // The same shardgate with the access log off: how much of the gap is the log.
      const quiet = await startShardgate(upstreams, dir, false, false);
      children.push(quiet.stop);
      targets.push(quiet);
    }
    const ngx = await startNginx(upstreams, dir);
    let nginxSkipped: string | undefined;
    if (typeof ngx === "string") nginxSkipped = ngx;
    else {
      children.push(ngx.stop);
      targets.push(ngx);
    }
    say(
      `\n=== upstreams: ${UPSTREAM_LABEL[kind]} at ${upstreams.join(" ")}\nclient ${client}, ${connections} connections, ${rounds} rounds x ${seconds}s per target, seed ${seed}`,
    );
    if (nginxSkipped !== undefined) say(`nginx skipped: ${nginxSkipped}`);
    // The edge rows (issue 13): affinity, rate limit and cache hit next to plain shardgate.
    let edgeSkipped: string | undefined;
    if (o.skipEdge) edgeSkipped = "--skip-edge or not the first variant";
    else if (!hasCommand("redis-server")) edgeSkipped = "redis-server not installed";
    else {
      const edge = await startEdgeTargets(upstreams, dir);
      children.push(edge.stop);
      targets.push(...edge.targets);
    }
    if (edgeSkipped !== undefined) say(`edge rows skipped: ${edgeSkipped}`);
    // Every proxy under test on the same CPU (the edge rows' Redis stays with the load).
    if (pinning !== null) for (const t of targets) pinProcess(t.pid, pinning.proxyCpu);

    // --targets: measure a subset (every process still starts, so the machine is the same).
    const measured = o.only === null ? targets : targets.filter((t) => o.only?.has(t.name));
    const unknown = [...(o.only ?? [])].filter((n) => !targets.some((t) => t.name === n));
    if (unknown.length > 0)
      throw new Error(
        `--targets: no target ${unknown.join(", ")} (${targets.map((t) => t.name).join(", ")})`,
      );
    // Warm-up: JIT, keep-alive pools and lazily created metric series, excluded from results.
    for (const t of measured)
      await measure(t, Math.min(2, seconds), connections, seed + 999, client, dir, pinning, probe);

    // nginx direct is the control: neither side of any target's verdict (round-verdict.ts).
    const control = measured.some((t) => t.name === "nginx") ? "nginx" : undefined;
    const roundList = await runRounds(
      measured.map((t) => t.name),
      rounds,
      o.method,
      control,
      async (name, r) => {
        const t = measured.find((x) => x.name === name) as Target;
        // Both sides of a round get the same key sequence.
        const s = await measure(t, seconds, connections, seed + r, client, dir, pinning, probe);
        say(
          roundLine(
            r + 1,
            name,
            s,
            `  p50 ${s.p50ms.toFixed(2)}  cpu ${s.cpuCores.toFixed(2)}${Number.isFinite(s.allocPerReq) ? `  alloc ${s.allocPerReq.toFixed(0)} B/req${s.allocPastEnd ? " (window past the run's end)" : ""}` : ""}  wrk ${s.load.clientCores.toFixed(2)}${Number.isFinite(s.gcMs) ? `  gc ${s.gcMs.toFixed(0)} ms` : ""}${s.errors + s.non2xx > 0 ? `  errors ${s.errors} non2xx ${s.non2xx}` : ""}`,
          ),
        );
        return s;
      },
      say,
      // The speed rule compares the pair the verdicts are about (the control has its band).
      [["shardgate", "bare-undici"]],
    );
    const samples = new Map<string, RoundSample[]>(
      measured.map((t) => [
        t.name,
        roundList.flatMap((r) => {
          const x = r.samples.get(t.name);
          return x === undefined ? [] : [x];
        }),
      ]),
    );
    const summaries: Summary[] = measured.map((t) => {
      const ss = samples.get(t.name) ?? [];
      return {
        target: t.name,
        rounds: ss.length,
        rps: median(ss.map((s) => s.rps)),
        p50ms: median(ss.map((s) => s.p50ms)),
        p99ms: median(ss.map((s) => s.p99ms)),
        cpuCores: median(ss.map((s) => s.cpuCores)),
        cpuUsPerReq: median(ss.map((s) => (s.cpuCores * 1e6) / s.rps)),
        allocPerReq: median(ss.map((s) => s.allocPerReq)),
        allocSpread: spread(ss.map((s) => s.allocPerReq)),
        allocFloor: Math.min(...ss.map((s) => s.allocPerReq)),
        rssMb: Math.max(...ss.map((s) => s.rssMb)),
        rpsCv: cv(ss.map((s) => s.rps)),
        p99Cv: cv(ss.map((s) => s.p99ms)),
        errors: ss.reduce((a, s) => a + s.errors, 0),
        non2xx: ss.reduce((a, s) => a + s.non2xx, 0),
      };
    });
    const by = (n: string) => summaries.find((s) => s.target === n);
    const s = by("shardgate");
    const ratios = ratioRows(summaries);

    let soakResult: SoakResult | null = null;
    if (soak > 0) {
      say(
        `soak: ${soakWarmup}s full-load warm-up, then ${soak}s full load with RSS sampled every ${soakEveryS(soak)}s ...`,
      );
      // A fresh process, so the figures do not depend on how much load the rounds put on `sg`.
      const fresh = await startShardgate(upstreams, dir, o.logFile);
      children.push(fresh.stop);
      if (pinning !== null) pinProcess(fresh.pid, pinning.proxyCpu);
      soakResult = await runSoak(
        fresh,
        soak,
        soakWarmup,
        (sec, s0) => measure(fresh, sec, connections, s0, client, dir, pinning, probe),
        seed,
      );
      await fresh.stop();
    }

    const perRound = roundRatios(samples);
    const report: VariantReport = {
      upstreams: UPSTREAM_LABEL[kind],
      roundRatios: perRound,
      nginxSkipped: nginxSkipped ?? null,
      results: summaries,
      ratios,
      targets: {
        "shardgate/bare-undici rps": ">= 0.9",
        "shardgate/bare-undici p99": "<= 1.2",
        "shardgate/bare-undici cpu/req": "<= 1.15",
        soakRssGrowth: "< 0.10",
      },
      soak: soakResult,
      // Against the edge process's own plain route when measured, else plain shardgate.
      edge: (() => {
        const peer = by("sg+plain") ?? s;
        return peer === undefined ? [] : edgeRatios(peer, summaries);
      })(),
    };
    say(`\nmedian of rounds (upstreams: ${UPSTREAM_LABEL[kind]}):`);
    say(
      "  target            req/s   p50 ms   p99 ms   cpu(cores)  cpu us/req  max rss MB  errors  spread (cv req/s, p99)",
    );
    for (const x of summaries) {
      say(
        `  ${x.target.padEnd(15)} ${x.rps.toFixed(0).padStart(7)} ${x.p50ms.toFixed(2).padStart(8)} ${x.p99ms.toFixed(2).padStart(8)} ${x.cpuCores.toFixed(2).padStart(11)} ${x.cpuUsPerReq.toFixed(0).padStart(11)} ${x.rssMb.toFixed(0).padStart(11)}  ${String(x.errors + x.non2xx).padStart(6)}  ${(x.rpsCv * 100).toFixed(0)}%, ${(x.p99Cv * 100).toFixed(0)}%`,
      );
    }
    say("\nratios (same run):             req/s    p99   cpu/request");
    for (const r of ratios) {
      const goal =
        r.peer === "bare-undici" && r.target !== "bare-h3" ? "  (targets >= 0.90x, <= 1.20x, <= 1.15x)" : "";
      say(
        `  ${`${r.target}/${r.peer}`.padEnd(26)} ${r.rps.toFixed(2).padStart(6)}x ${r.p99.toFixed(2).padStart(6)}x ${r.cpuPerReq.toFixed(2).padStart(6)}x${goal}`,
      );
    }
    const metered = summaries.filter((x) => Number.isFinite(x.allocPerReq));
    if (metered.length > 0) {
      // The yardstick (bench/alloc-meter.ts): counted, not timed, so a few per cent of change
      // shows here on a machine where CPU per request swings 2-3x between rounds.
      say(
        "\nJS heap bytes allocated per request (floor = lowest round, the least disturbed; median; spread = (max - min) / median):",
      );
      for (const x of metered)
        say(
          `  ${x.target.padEnd(15)} floor ${x.allocFloor.toFixed(0).padStart(6)} B/req  median ${x.allocPerReq.toFixed(0).padStart(6)}  spread ${(x.allocSpread * 100).toFixed(1)}%`,
        );
      const by = (n: string) => metered.find((x) => x.target === n);
      for (const r of ratios) {
        const a = by(r.target);
        const b = by(r.peer);
        if (a !== undefined && b !== undefined)
          say(
            `  ${`${r.target}/${r.peer}`.padEnd(26)} floor ${(a.allocFloor / b.allocFloor).toFixed(3)}x  median ${r.allocPerReq.toFixed(3)}x`,
          );
      }
    }
    for (const t of measured) {
      const last = samples.get(t.name)?.at(-1)?.allocSites;
      if (last === undefined) continue;
      say(`\n${t.name}: bytes allocated per request by function (last round, sampled; ALLOC_METER_SITES=1):`);
      for (const [site, b] of last.slice(0, 60)) say(`  ${b.toFixed(0).padStart(6)}  ${site}`);
    }
    if (perRound.length > 0) {
      say("\nshardgate/bare-undici round by round (the medians above hide this spread):");
      for (const r of perRound)
        say(
          `  round ${r.round}                   ${r.rps.toFixed(2).padStart(6)}x ${r.p99.toFixed(2).padStart(6)}x ${r.cpuPerReq.toFixed(2).padStart(6)}x${Number.isFinite(r.allocPerReq) ? `  alloc ${r.allocPerReq.toFixed(2)}x` : ""}`,
        );
      const span = (f: (r: RoundRatio) => number): string =>
        `${Math.min(...perRound.map(f)).toFixed(2)}-${Math.max(...perRound.map(f)).toFixed(2)}x`;
      say(
        `  range: req/s ${span((r) => r.rps)}, p99 ${span((r) => r.p99)}, cpu/request ${span((r) => r.cpuPerReq)}${Number.isFinite(perRound[0].allocPerReq) ? `, bytes/request ${span((r) => r.allocPerReq)}` : ""}`,
      );
    }
    const verdicts = pairVerdicts(
      roundList,
      "shardgate",
      "bare-undici",
      RPS_P99_CPU(0.9, 1.2, 1.15),
      o.method.minClean,
    );
    report.verdicts = verdicts;
    report.method = o.method;
    report.disturbed = roundList.filter((r) => r.why.length > 0).map((r) => ({ round: r.round, why: r.why }));
    if (verdicts[0]?.all > 0) {
      say("");
      for (const l of verdictLines(roundList, verdicts, o.method, control)) say(l);
      for (const l of noiseLines(roundList, "shardgate", "bare-undici", control)) say(l);
    }
    if (s !== undefined && report.edge.length > 0) {
      say(
        `\nedge features / ${by("sg+plain") === undefined ? "plain shardgate" : "the same process's plain route (sg+plain)"} (same run):`,
      );
      for (const e of report.edge) {
        say(
          `  ${e.target.padEnd(13)} throughput ${e.rpsRatio.toFixed(2)}x  p99 ${e.p99DeltaMs >= 0 ? "+" : ""}${e.p99DeltaMs.toFixed(2)} ms  cpu/request ${e.cpuPerReqRatio.toFixed(2)}x  target ${e.goal}${e.met ? "" : "  NOT MET"}`,
        );
      }
    }
    if (soakResult !== null) for (const line of soakLines(soakResult)) say(line);
    return report;
  } finally {
    for (const stop of children.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

// Entry point for the child roles (`node proxy-bench.js --role ...`); bench/run.ts imports run().
if (process.argv[1] !== undefined && fileURLToPath(new URL(`file://${process.argv[1]}`)) === THIS_FILE) {
  run(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exit(code);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
