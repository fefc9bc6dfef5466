// `npm run bench -- workers [--duration S] [--rounds N] [--connections C] [--seed N]`:
// req/s of shardgate with 1 and 2 workers (`--workers`) against nginx with 1 and 2 worker
// processes (`hash $http_x_user consistent`), in one run, over the same fast upstreams (three
// nginx servers answering a small body at once, bench/nginx-upstreams.ts), rounds interleaved,
// medians. Prints each target's ratio to nginx at the same worker count and each proxy's
// scaling factor (2 workers / 1). The load generator (wrk, one thread) runs on the same
// machine: with 2 cores it takes part of the cores the second worker would use.

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { shardgateArgv } from "../test/support/shardgate-process.js";
import { nginxHashProxyConfig, startNginxUpstreams } from "./nginx-upstreams.js";
import { cpuSeconds, freePort, hasCommand, stopChild, waitHttp } from "./proxy-bench.js";
import { runIfMain } from "./run-if-main.js";

const KEY_HEADER = "x-user";

interface Target {
  name: string;
  proxy: "shardgate" | "nginx";
  workers: number;
  url: string;
  child: ChildProcess;
}

async function startShardgate(upstreams: string[], dir: string, workers: number): Promise<Target> {
  const [http, admin] = [await freePort(), await freePort()];
  const members = upstreams.map((a, i) => `      - { id: m${i + 1}, address: "${a}" }`).join("\n");
  const configPath = join(dir, `shardgate-${workers}.yaml`);
  writeFileSync(
    configPath,
    `listen:\n  http: 127.0.0.1:${http}\n  admin: 127.0.0.1:${admin}\nlog:\n  level: info\n  accessLog: true\n` +
      `workers: ${workers}\n` +
      `pools:\n  bench:\n    algorithm: ring\n    members:\n${members}\n` +
      `routes:\n  - match: { pathPrefix: / }\n    pool: bench\n    key: [header:${KEY_HEADER}, ip]\n`,
  );
  // Access log on, written to /dev/null: shardgate's own cost of each line, not the disk's.
  const logFd = openSync("/dev/null", "w");
  const argv = shardgateArgv(["start", "--config", configPath]);
  const child = spawn(argv.command, argv.args, { stdio: ["ignore", logFd, "inherit"] });
  closeSync(logFd);
  await waitHttp(`http://127.0.0.1:${admin}/readyz`, 90_000);
  await waitHttp(`http://127.0.0.1:${http}/`, 30_000);
  return {
    name: `shardgate x${workers}`,
    proxy: "shardgate",
    workers,
    url: `http://127.0.0.1:${http}/`,
    child,
  };
}

async function startNginx(upstreams: string[], dir: string, workers: number): Promise<Target> {
  const port = await freePort();
  const prefix = join(dir, `nginx-${workers}`);
  mkdirSync(join(prefix, "logs"), { recursive: true });
  mkdirSync(join(prefix, "tmp"), { recursive: true });
  writeFileSync(join(prefix, "nginx.conf"), nginxHashProxyConfig(prefix, port, upstreams, workers));
  const child = spawn(
    "nginx",
    ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "logs/error.log")],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  await waitHttp(`http://127.0.0.1:${port}/`, 10_000);
  return { name: `nginx x${workers}`, proxy: "nginx", workers, url: `http://127.0.0.1:${port}/`, child };
}

const WRK_SCRIPT = `
math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1"))
request = function()
  return wrk.format(nil, nil, { ["${KEY_HEADER}"] = "u" .. math.random(0, 999999) })
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p99_us\\":%d,\\"errors\\":%d,\\"non2xx\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
`;

interface Sample {
  rps: number;
  p99ms: number;
  errors: number;
  /** CPU of the proxy's processes (primary or master and its workers) per request. */
  cpuUsPerReq: number;
}

/** CPU seconds of `pid` and its direct children (the workers). */
function treeCpuSeconds(pid: number): number {
  let total = cpuSeconds(pid);
  let children = "";
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8");
  } catch {
    return total;
  }
  for (const c of children.split(" ")) if (c.trim() !== "") total += cpuSeconds(Number(c));
  return total;
}

async function measure(
  t: Target,
  seconds: number,
  connections: number,
  seed: number,
  script: string,
): Promise<Sample> {
  const pid = t.child.pid ?? 0;
  const before = treeCpuSeconds(pid);
  const s = await wrk(t.url, seconds, connections, seed, script);
  const cpu = treeCpuSeconds(pid) - before;
  return { ...s, cpuUsPerReq: (cpu * 1e6) / Math.max(1, s.rps * seconds) };
}

function wrk(
  url: string,
  seconds: number,
  connections: number,
  seed: number,
  script: string,
): Promise<Omit<Sample, "cpuUsPerReq">> {
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "-s", script, url], {
      env: { ...process.env, BENCH_SEED: String(seed) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("exit", (code) => {
      const m = /BENCH_JSON (\{.*\})/.exec(out);
      if (code !== 0 || m === null) return reject(new Error(`wrk exited ${code}: ${out}`));
      const j = JSON.parse(m[1]) as Record<string, number>;
      resolve({
        rps: j.requests / (j.duration_us / 1e6),
        p99ms: j.p99_us / 1000,
        errors: j.errors + j.non2xx,
      });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const USAGE = "usage: npm run bench -- workers [--duration S] [--rounds N] [--connections C] [--seed N]";

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: "string" },
        rounds: { type: "string" },
        connections: { type: "string" },
        seed: { type: "string" },
      },
    }));
  } catch (err) {
    console.error(`${String(err)}\n${USAGE}`);
    return 2;
  }
  const seconds = Number(values.duration ?? 8);
  const rounds = Number(values.rounds ?? 3);
  const connections = Number(values.connections ?? 64);
  const seed = Number(values.seed ?? 1);
  if (![seconds, rounds, connections, seed].every((n) => Number.isInteger(n) && n > 0)) {
    console.error(`--duration, --rounds, --connections and --seed take positive whole numbers\n${USAGE}`);
    return 2;
  }
  for (const cmd of ["wrk", "nginx"])
    if (!hasCommand(cmd)) {
      console.error(`workers bench: ${cmd} is not installed (apt-get install -y ${cmd})`);
      return 1;
    }
  const dir = mkdtempSync(join(tmpdir(), "shardgate-workers-bench-"));
  const script = join(dir, "bench.lua");
  writeFileSync(script, WRK_SCRIPT);
  const upstreamPorts = [await freePort(), await freePort(), await freePort()];
  const upstreams = startNginxUpstreams(dir, upstreamPorts);
  const targets: Target[] = [];
  try {
    await Promise.all(upstreams.addresses.map((a) => waitHttp(`http://${a}/`, 10_000)));
    targets.push(await startShardgate(upstreams.addresses, dir, 1));
    targets.push(await startShardgate(upstreams.addresses, dir, 2));
    targets.push(await startNginx(upstreams.addresses, dir, 1));
    targets.push(await startNginx(upstreams.addresses, dir, 2));
    const load = loadavg()[0].toFixed(2);
    console.log(
      `workers bench: ${rounds} interleaved rounds of ${seconds} s per target, wrk -t1 -c${connections}, random ${KEY_HEADER}, ` +
        `upstreams: 3 nginx servers (1 process) answering at once; ${availableParallelism()} cores; load average at start ${load}`,
    );
    const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
    for (const t of targets) await wrk(t.url, 2, connections, seed, script); // warm-up (JIT, pools)
    for (let r = 0; r < rounds; r++)
      for (const t of targets)
        samples.get(t.name)?.push(await measure(t, seconds, connections, seed + r, script));
    const rps = (name: string): number => median((samples.get(name) ?? []).map((s) => s.rps));
    const rows = targets.map((t) => {
      const s = samples.get(t.name) ?? [];
      const peer = rps(`nginx x${t.workers}`);
      return [
        t.name,
        rps(t.name).toFixed(0),
        median(s.map((x) => x.p99ms)).toFixed(1),
        median(s.map((x) => x.cpuUsPerReq)).toFixed(0),
        String(s.reduce((a, x) => a + x.errors, 0)),
        (rps(t.name) / peer).toFixed(2),
      ];
    });
    const header = ["target", "req/s", "p99 ms", "CPU us/req", "errors", "req/s vs nginx (same workers)"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    const sgScale = rps("shardgate x2") / rps("shardgate x1");
    const ngScale = rps("nginx x2") / rps("nginx x1");
    console.log(
      `scaling 2 workers / 1: shardgate ${sgScale.toFixed(2)}x, nginx ${ngScale.toFixed(2)}x ` +
        `(shardgate's scaling / nginx's: ${(sgScale / ngScale).toFixed(2)}); load average at end ${loadavg()[0].toFixed(2)}`,
    );
    console.log(
      `note: wrk runs on this machine too; on ${availableParallelism()} cores it competes with the second worker ` +
        "(and with the upstreams) for the cores, so neither proxy can reach 2x here.",
    );
    return 0;
  } finally {
    for (const t of targets) await stopChild(t.child);
    await stopChild(upstreams.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, run);
