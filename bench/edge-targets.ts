// The edge rows of `npm run bench -- proxy`: one more shardgate process, configured like the
// plain one but with extra routes, each measured as its own target next to plain shardgate in
// the same run, against a real redis-server started for the run:
//   sg+plain      a route without features on the same process (the ratios' peer: it shares
//                 the process, so process-to-process noise drops out; the plain `shardgate`
//                 row is printed next to it);
//   sg+cookie     cookie affinity, every request carrying a valid cookie (the steady state);
//   sg+redis-aff  Redis affinity with a warm in-process copy (1,000 keys, localTtl 60 s);
//   sg+ratelimit  a fleet-wide rate limit high enough never to refuse (one Redis script per request);
//   sg+cache-hit  one cacheable URL: every request after the first is a cache hit.
// Targets (issue 13): cookie and warm Redis affinity cost <= 10 % throughput and <= 1 ms p99;
// a cache hit serves >= 1.5x the throughput of a proxied request.

import { spawn } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePorts } from "../test/support/ports.js";
import { RedisServer } from "../test/support/redis-server.js";
import { shardgateArgv } from "../test/support/shardgate-process.js";
import type { Target } from "./proxy-bench.js";

export interface EdgeTargets {
  targets: Target[];
  stop(): Promise<void>;
}

const KEY = "x-user";

function edgeConfig(http: number, admin: number, upstreams: string[], redisUrl: string): string {
  const members = upstreams.map((a, i) => `      - { id: m${i + 1}, address: "${a}" }`).join("\n");
  const route = (prefix: string, extra: string, key = `[header:${KEY}, ip]`) =>
    `  - match: { pathPrefix: ${prefix} }\n    pool: bench\n    key: ${key}\n${extra}`;
  return `listen:\n  http: 127.0.0.1:${http}\n  admin: 127.0.0.1:${admin}\nlog:\n  level: info\n  accessLog: true\n
redis: { url: ${redisUrl}, keyPrefix: "bench:" }
pools:\n  bench:\n    algorithm: ring\n    members:\n${members}\n    healthCheck: { path: /health, interval: 2s }
routes:
${route("/", "")}
${route("/plain/", "")}
${route("/cookie/", "    affinity: { cookie: { name: sg_aff } }\n")}
${route("/aff/", "    affinity: { store: redis, ttl: 30m, localTtl: 60s, localMaxEntries: 100000 }\n")}
${route("/rl/", "    rateLimit: { limit: 1000000000, window: 1s }\n")}
${route("/cache/", "    cache: { maxBytes: 64kb }\n", "[path:2]")}`;
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready`);
}

export async function startEdgeTargets(upstreams: string[], dir: string): Promise<EdgeTargets> {
  const redis = await new RedisServer().start();
  const [http, admin] = await freePorts(2);
  const configPath = join(dir, "shardgate-edge.yaml");
  writeFileSync(configPath, edgeConfig(http, admin, upstreams, redis.url));
  const logFd = openSync("/dev/null", "w");
  const argv = shardgateArgv(["start", "--config", configPath]);
  const child = spawn(argv.command, argv.args, { stdio: ["ignore", logFd, "inherit"] });
  closeSync(logFd);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await redis.stop();
  };
  try {
    await waitReady(`http://127.0.0.1:${admin}/readyz`);
    const base = `http://127.0.0.1:${http}`;
    // The steady state of cookie affinity: clients send the cookie they were given.
    const first = await fetch(`${base}/cookie/x`, { headers: { [KEY]: "u1" } });
    await first.arrayBuffer();
    const set = first.headers.get("set-cookie") ?? "";
    const cookie = set.slice(0, set.indexOf(";"));
    if (!cookie.startsWith("sg_aff=")) throw new Error(`no affinity cookie issued (${set})`);
    const pid = child.pid ?? 0;
    const t = (name: string, path: string, extra: Partial<Target> = {}): Target => ({
      name,
      url: `${base}${path}`,
      pid,
      metricsUrl: `http://127.0.0.1:${admin}/metrics`,
      stop: async () => {},
      ...extra,
    });
    return {
      targets: [
        // The same process's route without features: the closest peer (no process-to-process noise).
        t("sg+plain", "/plain/x"),
        t("sg+cookie", "/cookie/x", { headers: { cookie } }),
        t("sg+redis-aff", "/aff/x", { keySpace: 1000 }),
        t("sg+ratelimit", "/rl/x"),
        t("sg+cache-hit", "/cache/x"),
      ],
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface EdgeRatio {
  target: string;
  rpsRatio: number;
  p99DeltaMs: number;
  /** Proxy CPU per request against plain shardgate's: comparable even on a saturated machine. */
  cpuPerReqRatio: number;
  goal: string;
  met: boolean;
}

/** Each edge row against plain shardgate measured in the same run. */
export function edgeRatios(
  plain: { rps: number; p99ms: number; cpuUsPerReq: number },
  rows: ReadonlyArray<{ target: string; rps: number; p99ms: number; cpuUsPerReq: number }>,
): EdgeRatio[] {
  return rows
    .filter((r) => r.target.startsWith("sg+") && r.target !== "sg+plain")
    .map((r) => {
      const base = {
        target: r.target,
        rpsRatio: r.rps / plain.rps,
        p99DeltaMs: r.p99ms - plain.p99ms,
        cpuPerReqRatio: r.cpuUsPerReq / plain.cpuUsPerReq,
      };
      if (r.target === "sg+cache-hit")
        return { ...base, goal: "throughput >= 1.50x", met: base.rpsRatio >= 1.5 };
      if (r.target === "sg+ratelimit")
        return { ...base, goal: "(no target: one Redis round trip)", met: true };
      return {
        ...base,
        goal: "throughput >= 0.90x, p99 <= +1 ms",
        met: base.rpsRatio >= 0.9 && base.p99DeltaMs <= 1,
      };
    });
}
