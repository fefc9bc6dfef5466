// Raft benchmark: a 3-member shardgate cluster of real processes on loopback with fsync on,
// against etcd (3 members, same machine, same client) when `etcd` is installed:
// committed puts/s and p50/p99 commit latency at 1 and 64 concurrent proposers (256-byte
// values), and leader failover time after kill -9 (median and max over N kills).
// Usage: npm run bench -- raft [--seconds 4] [--election-ms 1000] [--failovers 5] [--no-etcd] [--json]
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  freePorts,
  makeCluster,
  type NodeProcess,
  request,
  statusOf,
} from "../test/support/raft-io/cluster.js";

interface Member {
  readonly name: string;
  alive(): boolean;
  put(key: string, value: string, timeoutMs: number): Promise<boolean>;
  isLeader(): Promise<boolean>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  /** Highest applied index, to wait for a restarted member to catch up. */
  applied(): Promise<number>;
}

interface System {
  readonly label: string;
  members: Member[];
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- shardgate

async function startShardgate(dir: string, electionMs: number): Promise<System> {
  const nodes = await makeCluster({ dir, size: 3, electionMs, heartbeatMs: 100, fsync: true });
  await Promise.all(nodes.map((n) => n.start()));
  const member = (n: NodeProcess): Member => ({
    name: n.cfg.id,
    alive: () => n.alive,
    async put(key, value, timeoutMs) {
      if (!n.alive) return false;
      try {
        return (await request(n.httpPort, "PUT", `/kv/${key}`, value, timeoutMs)).status === 200;
      } catch {
        return false;
      }
    },
    async isLeader() {
      return (await statusOf(n))?.role === "leader";
    },
    kill9: () => n.kill9(),
    restart: () => n.start(),
    async applied() {
      return (await statusOf(n))?.appliedIndex ?? -1;
    },
  });
  return {
    label: "shardgate",
    members: nodes.map(member),
    stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
  };
}

// ---------------------------------------------------------------- etcd

function etcdVersion(): string | null {
  try {
    const out = execFileSync("etcd", ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return /etcd Version: (\S+)/.exec(out)?.[1] ?? "unknown";
  } catch {
    return null;
  }
}

async function startEtcd(dir: string, electionMs: number): Promise<System> {
  const ports = await freePorts(6);
  const names = ["e1", "e2", "e3"];
  const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[3 + i]}`).join(",");
  const procs: (ChildProcess | null)[] = [null, null, null];
  const spawnOne = (i: number) => {
    const p = spawn(
      "etcd",
      [
        `--name=${names[i]}`,
        `--data-dir=${dir}/${names[i]}`,
        `--listen-client-urls=http://127.0.0.1:${ports[i]}`,
        `--advertise-client-urls=http://127.0.0.1:${ports[i]}`,
        `--listen-peer-urls=http://127.0.0.1:${ports[3 + i]}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${ports[3 + i]}`,
        `--initial-cluster=${cluster}`,
        "--initial-cluster-state=new",
        "--initial-cluster-token=shardgate-bench",
        "--heartbeat-interval=100",
        `--election-timeout=${electionMs}`,
        "--logger=zap",
        "--log-level=error",
      ],
      { stdio: ["ignore", "ignore", "ignore"] },
    );
    procs[i] = p;
    p.once("exit", () => {
      if (procs[i] === p) procs[i] = null;
    });
  };
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const status = async (i: number): Promise<{ member: string; leader: string; applied: number } | null> => {
    try {
      const r = await request(ports[i], "POST", "/v3/maintenance/status", "{}", 1000);
      if (r.status !== 200) return null;
      const j = JSON.parse(r.body) as {
        header: { member_id: string };
        leader: string;
        raftAppliedIndex: string;
      };
      return { member: j.header.member_id, leader: j.leader, applied: Number(j.raftAppliedIndex) };
    } catch {
      return null;
    }
  };
  const member = (i: number): Member => ({
    name: names[i],
    alive: () => procs[i] !== null,
    async put(key, value, timeoutMs) {
      if (procs[i] === null) return false;
      try {
        const body = JSON.stringify({ key: b64(key), value: b64(value) });
        return (await request(ports[i], "POST", "/v3/kv/put", body, timeoutMs)).status === 200;
      } catch {
        return false;
      }
    },
    async isLeader() {
      const s = await status(i);
      return s !== null && s.leader !== "0" && s.leader === s.member;
    },
    async kill9() {
      const p = procs[i];
      if (p === null) return;
      const gone = new Promise<void>((r) => p.once("exit", () => r()));
      p.kill("SIGKILL");
      await gone;
    },
    async restart() {
      spawnOne(i);
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && (await status(i)) === null) await sleep(50);
    },
    async applied() {
      return (await status(i))?.applied ?? -1;
    },
  });
  for (let i = 0; i < names.length; i++) spawnOne(i);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const ss = await Promise.all([0, 1, 2].map(status));
    if (ss.every((s) => s !== null && s.leader !== "0")) break;
    await sleep(100);
  }
  return {
    label: "etcd",
    members: [0, 1, 2].map(member),
    async stop() {
      for (const p of procs) p?.kill("SIGTERM");
      await sleep(300);
      for (const p of procs) p?.kill("SIGKILL");
    },
  };
}

// ---------------------------------------------------------------- measurements

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function findLeader(sys: System, timeoutMs: number): Promise<Member> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const m of sys.members) if (m.alive() && (await m.isLeader())) return m;
    await sleep(10);
  }
  throw new Error(`${sys.label}: no leader within ${timeoutMs} ms`);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface LoadResult {
  putsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

const VALUE = "v".repeat(256);

interface Samples {
  lat: number[];
  ok: number;
  errors: number;
  seconds: number;
}

function newSamples(): Samples {
  return { lat: [], ok: 0, errors: 0, seconds: 0 };
}

async function load(sys: System, concurrency: number, seconds: number, into: Samples): Promise<void> {
  const leader = await findLeader(sys, 10_000);
  const end = performance.now() + seconds * 1000;
  const worker = async (w: number) => {
    for (let i = 0; performance.now() < end; i++) {
      const t0 = performance.now();
      const ok = await leader.put(`k${w}-${i}-${into.ok}`, VALUE, 5000);
      if (ok) {
        into.lat.push(performance.now() - t0);
        into.ok++;
      } else into.errors++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  into.seconds += (performance.now() - t0) / 1000;
}

function summarize(s: Samples): LoadResult {
  const sorted = Float64Array.from(s.lat).sort();
  return {
    putsPerSec: s.ok / s.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: s.errors,
  };
}

/** kill -9 the leader, time until a put commits on a new leader; restart and let it catch up. */
async function failovers(sys: System, rounds: number): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const leader = await findLeader(sys, 10_000);
    for (let i = 0; i < 20; i++) await leader.put(`warm${r}-${i}`, VALUE, 2000);
    const t0 = performance.now();
    await leader.kill9();
    let done = false;
    while (!done && performance.now() - t0 < 15_000) {
      for (const m of sys.members) {
        if (m === leader || !m.alive()) continue;
        if (await m.put(`after${r}`, VALUE, 250)) {
          done = true;
          break;
        }
      }
      if (!done) await sleep(5);
    }
    if (!done) throw new Error(`${sys.label}: no commit within 15 s of killing the leader`);
    times.push(performance.now() - t0);
    await leader.restart();
    const target = Math.max(
      ...(await Promise.all(sys.members.filter((m) => m !== leader).map((m) => m.applied()))),
    );
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await leader.applied()) < target) await sleep(50);
  }
  return times;
}

interface SystemResult {
  label: string;
  c1: LoadResult;
  c64: LoadResult;
  failoverMs: number[];
  failoverMedian: number;
  failoverMax: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Both clusters run side by side (the idle one costs only heartbeats) and the measurements
 * alternate in short slices, so load from anything else on the machine hits both alike.
 */
async function measureAll(systems: System[], seconds: number, rounds: number): Promise<SystemResult[]> {
  const slices = 2;
  const c1 = systems.map(newSamples);
  const c64 = systems.map(newSamples);
  for (const sys of systems) await load(sys, 8, 0.5, newSamples()); // warm up connections and JIT
  for (let k = 0; k < slices; k++) {
    for (let i = 0; i < systems.length; i++) await load(systems[i], 1, seconds / slices, c1[i]);
    for (let i = 0; i < systems.length; i++) await load(systems[i], 64, seconds / slices, c64[i]);
  }
  const fo: number[][] = systems.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < systems.length; i++) fo[i].push(...(await failovers(systems[i], 1)));
  }
  return systems.map((sys, i) => ({
    label: sys.label,
    c1: summarize(c1[i]),
    c64: summarize(c64[i]),
    failoverMs: fo[i],
    failoverMedian: median(fo[i]),
    failoverMax: Math.max(...fo[i]),
  }));
}

// ---------------------------------------------------------------- output

const REFERENCE = {
  label: "etcd 3.4 (reference, not measured here)",
  putsPerSec16: "1300-1600 @16 clients",
  p50: 9,
  p99: 50,
  failoverMedian: 1260,
};

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

export async function run(argv: string[]): Promise<number> {
  const arg = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    if (i < 0) return dflt;
    const v = Number(argv[i + 1]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
    return v;
  };
  const seconds = arg("--seconds", 4);
  const electionMs = arg("--election-ms", 1000);
  const rounds = arg("--failovers", 5);
  const json = argv.includes("--json");
  const version = argv.includes("--no-etcd") ? null : etcdVersion();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sg-raft-bench-"));
  const systems: System[] = [];
  try {
    systems.push(await startShardgate(path.join(dir, "sg"), electionMs));
    if (version !== null) systems.push(await startEtcd(path.join(dir, "etcd"), electionMs));
    const results = await measureAll(systems, seconds, rounds);
    const ours = results[0];
    const peer: SystemResult | null = results[1] ?? null;
    if (peer) peer.label = `etcd ${version}`;
    const targets = {
      throughput64AtLeastPeer: peer
        ? ours.c64.putsPerSec >= peer.c64.putsPerSec
        : ours.c64.putsPerSec >= 1600,
      p99At1AtMostPeer: peer ? ours.c1.p99 <= peer.c1.p99 : ours.c1.p99 <= REFERENCE.p99,
      failoverMedianWithin2xElection: ours.failoverMedian <= 2 * electionMs,
    };
    if (json) {
      console.log(
        JSON.stringify({
          electionMs,
          seconds,
          fsync: true,
          shardgate: ours,
          peer: peer ?? REFERENCE,
          peerMeasured: peer !== null,
          targets,
        }),
      );
      return 0;
    }
    const rows: [string, number, number | null, number][] = [
      ["committed puts/s @1 proposer", ours.c1.putsPerSec, peer?.c1.putsPerSec ?? null, 0],
      ["p50 commit latency ms @1", ours.c1.p50, peer?.c1.p50 ?? REFERENCE.p50, 2],
      ["p99 commit latency ms @1", ours.c1.p99, peer?.c1.p99 ?? REFERENCE.p99, 2],
      ["committed puts/s @64 proposers", ours.c64.putsPerSec, peer?.c64.putsPerSec ?? null, 0],
      ["p50 commit latency ms @64", ours.c64.p50, peer?.c64.p50 ?? null, 2],
      ["p99 commit latency ms @64", ours.c64.p99, peer?.c64.p99 ?? null, 2],
      [
        `failover median ms (${rounds} kills)`,
        ours.failoverMedian,
        peer?.failoverMedian ?? REFERENCE.failoverMedian,
        0,
      ],
      ["failover max ms", ours.failoverMax, peer?.failoverMax ?? null, 0],
    ];
    const peerLabel = peer ? peer.label : REFERENCE.label;
    console.log(
      `raft: 3 members, real processes on loopback, fsync on, election timeout ${electionMs} ms, 256-byte values, ${seconds} s per load`,
    );
    console.log(
      `${"metric".padEnd(34)}${"shardgate".padStart(12)}${peerLabel.padStart(Math.max(14, peerLabel.length + 2))}${"ratio".padStart(9)}`,
    );
    for (const [name, a, b, d] of rows) {
      const ratio = b === null || b === 0 ? "-" : (a / b).toFixed(2);
      console.log(
        `${name.padEnd(34)}${fmt(a, d).padStart(12)}${(b === null ? "-" : fmt(b, d)).padStart(Math.max(14, peerLabel.length + 2))}${ratio.padStart(9)}`,
      );
    }
    if (!peer) console.log(`reference throughput: ${REFERENCE.putsPerSec16}`);
    console.log(
      `errors: shardgate ${ours.c1.errors + ours.c64.errors}${peer ? `, ${peer.label} ${peer.c1.errors + peer.c64.errors}` : ""}`,
    );
    console.log(
      `failovers ms: shardgate ${ours.failoverMs.map((x) => x.toFixed(0)).join(", ")}${peer ? `; ${peer.label} ${peer.failoverMs.map((x) => x.toFixed(0)).join(", ")}` : ""}`,
    );
    console.log(
      `targets: throughput@64 >= peer ${targets.throughput64AtLeastPeer ? "PASS" : "FAIL"}; p99@1 <= peer ${targets.p99At1AtMostPeer ? "PASS" : "FAIL"}; failover median <= 2x election timeout ${targets.failoverMedianWithin2xElection ? "PASS" : "FAIL"}`,
    );
    return 0;
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
