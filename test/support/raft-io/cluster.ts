// Launches Raft members as OS processes (test/support/raft-io/node-main) and talks to their HTTP API.
// Shared by the process test and bench/raft-bench. Runs the compiled JS when this module is
// itself compiled (dist/), else the .ts source under `--import tsx`.
import { type ChildProcess, spawn } from "node:child_process";
import * as http from "node:http";
import { fileURLToPath } from "node:url";
import { reapOnExit } from "../child-reaper.js";
import { freePorts } from "../ports.js";
import { START_DEADLINE_MS, scaled } from "../wait.js";

/** Shared with bench/raft-bench. */
export { freePorts };

import type { LeaderTerm, NodeConfig } from "./node-main.js";

const here = import.meta.url;
const fromSource = here.endsWith(".ts");
const mainPath = fileURLToPath(new URL(fromSource ? "./node-main.ts" : "./node-main.js", here));

export class NodeProcess {
  readonly cfg: NodeConfig;
  proc: ChildProcess | null = null;
  httpPort = 0;
  stderr = "";
  /** Date.now() just after the last SIGKILL was sent (the instant the member died). */
  killedAt = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(cfg: NodeConfig) {
    this.cfg = cfg;
  }

  get alive(): boolean {
    return this.proc !== null;
  }

  /** Spawns the process and resolves once it serves HTTP (rejects after `timeoutMs`, scaled). */
  start(timeoutMs = START_DEADLINE_MS): Promise<void> {
    const budget = scaled(timeoutMs);
    // RAFT_NODE_ARGS: extra node flags for the members (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
    const extra = process.env.RAFT_NODE_ARGS ? process.env.RAFT_NODE_ARGS.split(" ") : [];
    const args = fromSource
      ? [...extra, "--import", "tsx", mainPath, JSON.stringify(this.cfg)]
      : [...extra, mainPath, JSON.stringify(this.cfg)];
    const proc = reapOnExit(spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] }));
    this.proc = proc;
    this.exited = new Promise<void>((r) =>
      proc.once("exit", () => {
        if (this.proc === proc) this.proc = null;
        r();
      }),
    );
    proc.stderr?.on("data", (c: Buffer) => {
      this.stderr = (this.stderr + c.toString()).slice(-8192);
    });
    return new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`${this.cfg.id} not ready in ${budget} ms: ${this.stderr}`)),
        budget,
      );
      proc.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        const nl = out.indexOf("\n");
        if (nl >= 0 && this.httpPort === 0) {
          try {
            this.httpPort = (JSON.parse(out.slice(0, nl)) as { http: number }).http;
            clearTimeout(timer);
            resolve();
          } catch (err) {
            clearTimeout(timer);
            reject(err);
          }
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.cfg.id} exited with ${code} before ready: ${this.stderr}`));
      });
    }).then(() => undefined);
  }

  /** SIGKILL: no shutdown path runs (a crash). */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    p.kill("SIGKILL");
    this.killedAt = Date.now();
    await this.exited;
    this.httpPort = 0;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(t);
    this.httpPort = 0;
  }
}

export interface ClusterOptions {
  dir: string;
  size: number;
  electionMs: number;
  heartbeatMs: number;
  fsync: boolean;
  secret?: string;
  seed?: number;
}

/** Builds (does not start) `size` members with fixed Raft ports on 127.0.0.1. */
export async function makeCluster(o: ClusterOptions): Promise<NodeProcess[]> {
  const ports = await freePorts(o.size);
  const ids = ports.map((_, i) => `n${i + 1}`);
  const peers: Record<string, string> = {};
  ids.forEach((id, i) => {
    peers[id] = `127.0.0.1:${ports[i]}`;
  });
  return ids.map(
    (id, i) =>
      new NodeProcess({
        id,
        dataDir: `${o.dir}/${id}`,
        secret: o.secret ?? "cluster-secret-for-tests-0001",
        peers,
        bootstrap: ids,
        electionMs: o.electionMs,
        heartbeatMs: o.heartbeatMs,
        fsync: o.fsync,
        seed: o.seed === undefined ? undefined : o.seed + i,
      }),
  );
}

export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export function request(
  port: number,
  method: string,
  path: string,
  body?: string | Buffer,
  timeoutMs = 5000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        agent,
        timeout: timeoutMs,
        headers: body ? { "content-length": Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

export interface NodeStatusView {
  id: string;
  role: string;
  term: number;
  leader: string;
  commitIndex: number;
  appliedIndex: number;
  leaderTerms: LeaderTerm[];
  campaigns: number[];
  ticks: number[];
}

export async function statusOf(n: NodeProcess): Promise<NodeStatusView | null> {
  if (!n.alive || n.httpPort === 0) return null;
  try {
    const r = await request(n.httpPort, "GET", "/status", undefined, 1000);
    return r.status === 200 ? (JSON.parse(r.body) as NodeStatusView) : null;
  } catch {
    return null;
  }
}

/** Polls live members until one reports itself leader (bounded by `timeoutMs`). */
export async function findLeader(
  nodes: readonly NodeProcess[],
  timeoutMs: number,
  stepMs = 10,
): Promise<NodeProcess> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const n of nodes) {
      const s = await statusOf(n);
      if (s?.role === "leader") return n;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`no leader within ${timeoutMs} ms`);
}
