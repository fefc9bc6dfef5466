// The processes the scale bench measures: one nginx serving a fixed 200 on a few loopback
// ports (a fast upstream, so the proxy's own cost shows), shardgate started on a pool of N
// members spread over those ports, and wrk with a fixed set of distinct keys.

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { join } from "node:path";
import { shardgateArgv } from "../../test/support/shardgate-process.js";
import { freePort, hasCommand, stopChild, waitHttp } from "../proxy-bench.js";
import { runWrkScript } from "../wrk.js";

export const KEY_HEADER = "x-key";
export const ADMIN_TOKEN = "scale-bench-token";

export interface Upstream {
  readonly addresses: readonly string[];
  readonly label: string;
  /** nginx's stub_status (host:port): its accept counter is the upstream connects a run caused. */
  readonly status?: string;
  /** The nginx process (0 when unknown), for CPU pinning (`--pin on`). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** nginx (one worker, no master) answering 200 "ok" on `ports` loopback ports. */
export async function startNginxUpstream(dir: string, ports: number): Promise<Upstream | string> {
  if (!hasCommand("nginx")) return "nginx not installed (apt-get install -y nginx)";
  const prefix = join(dir, "nginx-upstream");
  mkdirSync(join(prefix, "logs"), { recursive: true });
  mkdirSync(join(prefix, "tmp"), { recursive: true });
  const addresses: string[] = [];
  // freePort() closes its probe socket, so the kernel may hand the same port out twice.
  while (addresses.length < ports) {
    const a = `127.0.0.1:${await freePort()}`;
    if (!addresses.includes(a)) addresses.push(a);
  }
  const listens = addresses.map((a) => `    listen ${a};`).join("\n");
  let status = `127.0.0.1:${await freePort()}`;
  while (addresses.includes(status)) status = `127.0.0.1:${await freePort()}`;
  writeFileSync(
    join(prefix, "nginx.conf"),
    `daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile 30000;\n` +
      `error_log ${prefix}/logs/error.log warn;\npid ${prefix}/nginx.pid;\n` +
      `events { worker_connections 16384; }\n` +
      `http {\n  access_log off;\n  client_body_temp_path ${prefix}/tmp;\n  proxy_temp_path ${prefix}/tmp;\n` +
      `  fastcgi_temp_path ${prefix}/tmp;\n  uwsgi_temp_path ${prefix}/tmp;\n  scgi_temp_path ${prefix}/tmp;\n` +
      `  keepalive_requests 10000000;\n  keepalive_timeout 120s;\n` +
      `  server {\n${listens}\n    location / { return 200 "ok\\n"; }\n  }\n` +
      `  server {\n    listen ${status};\n    location / { stub_status; }\n  }\n}\n`,
  );
  const child = spawn(
    "nginx",
    ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "logs/error.log")],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  try {
    for (const a of addresses) await waitHttp(`http://${a}/`, 10_000);
  } catch (err) {
    await stopChild(child);
    return `nginx failed to start: ${String(err)}`;
  }
  return {
    addresses,
    status,
    pid: child.pid ?? 0,
    label: `nginx (1 worker, ${ports} ports)`,
    stop: () => stopChild(child),
  };
}

/**
 * Connections nginx has accepted so far on all its ports (stub_status), counting the one
 * this read opens (so the connects between two reads are b - a - 1); NaN without a status
 * port. Read on a fresh connection, closed after.
 */
export async function upstreamAccepts(up: Upstream): Promise<number> {
  if (up.status === undefined) return Number.NaN;
  const body = await new Promise<string>((resolve, reject) => {
    httpGet(`http://${up.status}/`, { agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve(text));
      res.on("error", reject);
    }).on("error", reject);
  });
  const m = /\n\s*(\d+)\s+\d+\s+\d+/.exec(body);
  return m === null ? Number.NaN : Number(m[1]);
}

export interface PoolShape {
  readonly members: number;
  readonly algorithm: "ring" | "maglev";
  /** Maglev table size (a prime); default shardgate's. */
  readonly tableSize?: number;
  /** Extra member ids beyond `members` (a reload adding one). */
  readonly extra?: number;
  /** How the members are written: one-line flow mappings (default) or block mappings of three lines. */
  readonly style?: "flow" | "block";
  /** A comment line written first (a reload whose edit is outside the member list). */
  readonly header?: string;
  /** metrics.memberHistograms (absent: the default, auto). */
  readonly memberHistograms?: "auto" | "on" | "off";
}

export function memberId(i: number): string {
  return `m${i}`;
}

function configText(http: number, admin: number, shape: PoolShape, addresses: readonly string[]): string {
  const lines: string[] = [];
  const count = shape.members + (shape.extra ?? 0);
  for (let i = 0; i < count; i++) {
    const address = addresses[i % addresses.length];
    if (shape.style === "block")
      lines.push(`      - id: ${memberId(i)}\n        address: "${address}"\n        weight: ${1 + (i % 3)}`);
    else lines.push(`      - { id: ${memberId(i)}, address: "${address}" }`);
  }
  const table = shape.tableSize === undefined ? "" : `    tableSize: ${shape.tableSize}\n`;
  return (
    (shape.header === undefined ? "" : `# ${shape.header}\n`) +
    `listen:\n  http: 127.0.0.1:${http}\n  admin: 127.0.0.1:${admin}\n` +
    `admin:\n  token: ${ADMIN_TOKEN}\nlog:\n  level: warn\n  accessLog: false\n` +
    (shape.memberHistograms === undefined
      ? ""
      : `metrics:\n  memberHistograms: ${shape.memberHistograms}\n`) +
    `pools:\n  scale:\n    algorithm: ${shape.algorithm}\n${table}    members:\n${lines.join("\n")}\n` +
    `routes:\n  - match: { pathPrefix: / }\n    pool: scale\n    key: [header:${KEY_HEADER}, ip]\n`
  );
}

export interface Shardgate {
  readonly url: string;
  readonly admin: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Rewrites the config file with `shape` (for a reload). */
  rewrite(shape: PoolShape): void;
  stop(): Promise<void>;
}

/** A standalone shardgate routing pool "scale" of `shape.members` members over `addresses`. */
export async function startShardgate(
  dir: string,
  name: string,
  shape: PoolShape,
  addresses: readonly string[],
  extraNodeArgs: readonly string[] = [],
): Promise<Shardgate> {
  const [http, admin] = [await freePort(), await freePort()];
  const configPath = join(dir, `${name}.yaml`);
  writeFileSync(configPath, configText(http, admin, shape, addresses));
  const dataDir = join(dir, `${name}-data`);
  mkdirSync(dataDir, { recursive: true });
  const logFd = openSync(join(dir, `${name}.log`), "w");
  const argv = shardgateArgv(["start", "--config", configPath, "--data-dir", dataDir]);
  const child = spawn(argv.command, [...extraNodeArgs, ...argv.args], {
    stdio: ["ignore", logFd, "inherit"],
  });
  closeSync(logFd);
  await waitHttp(`http://127.0.0.1:${admin}/readyz`, 120_000);
  return {
    url: `http://127.0.0.1:${http}/`,
    admin: `http://127.0.0.1:${admin}`,
    pid: child.pid ?? 0,
    child,
    // As README "Files written in place" advises: written beside it, then renamed into place
    // (a new inode, read at once; a file rewritten in place would wait the settle period).
    rewrite: (next) => {
      const temp = `${configPath}.next`;
      writeFileSync(temp, configText(http, admin, next, addresses));
      renameSync(temp, configPath);
    },
    stop: () => stopChild(child),
  };
}

export interface WrkResult {
  rps: number;
  p99ms: number;
  errors: number;
}

/**
 * wrk -t1 -c`connections` for `seconds`, each request keyed by one of `keys` distinct keys
 * (seeded); on CPU `cpu` when given (taskset).
 */
export async function runWrk(
  dir: string,
  url: string,
  seconds: number,
  connections: number,
  keys: number,
  seed: number,
  cpu?: number,
): Promise<WrkResult> {
  const script = join(dir, `keys-${keys}.lua`);
  writeFileSync(
    script,
    `math.randomseed(${seed})\nrequest = function()\n  return wrk.format(nil, nil, { ["${KEY_HEADER}"] = "k" .. math.random(0, ${keys - 1}) })\nend\n` +
      `done = function(summary, latency, requests)\n  local e = summary.errors\n` +
      `  io.write(string.format("BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p99_us\\":%d,\\"errors\\":%d}\\n",\n` +
      `    summary.requests, summary.duration, latency:percentile(99), e.connect + e.read + e.write + e.timeout + e.status))\nend\n`,
  );
  const j = await runWrkScript({ url, script, seconds, connections, cpu });
  return { rps: j.requests / (j.duration_us / 1e6), p99ms: j.p99_us / 1000, errors: j.errors };
}

/** A metric's value from a Prometheus text body (first sample of `name`), or NaN. */
export function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, "m").exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
