// Launches a fleet of real `shardgate start` processes that form one Raft cluster: every
// instance gets its own config file (own cluster.id, listen ports, dataDir; the same peers,
// voters and routing), the shared secret through the environment, and the Consul address.
// Ports are picked up front so that peers can be listed and a restarted instance comes back
// on the same addresses. Helpers read each instance's admin API (state, route explanations),
// wait for agreement, kill -9 / restart an instance on its dataDir, inject transport faults
// through the admin API, and collect access logs. stop() ends every process and checks by
// PID that none is left.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BreakerView,
  parseRoute,
  parseState,
  type RouteView,
  type StateView,
} from "./cluster/admin-views.js";
import {
  type FleetNodeSpec,
  fleetConfigYaml,
  SHARED_ADMIN_PORT_ENV,
  SHARED_HTTP_PORT_ENV,
} from "./cluster/fleet-config.js";
import { fleetNodeSpecs } from "./cluster/fleet-node-specs.js";
import { httpRequest, mapLimit, sleep } from "./cluster/http-client.js";
import { type LogLine, ShardgateChild } from "./shardgate-process.js";
import { CONDITION_DEADLINE_MS, START_DEADLINE_MS, scaled } from "./wait.js";

export type { BreakerView, RouteView, StateView } from "./cluster/admin-views.js";

/** Where the transport fault injection lives in the admin API (see proxy/admin/). */
export const DEBUG_CUT_PATH = "/admin/debug/cut";
export const DEBUG_HEAL_PATH = "/admin/debug/heal";

export interface FleetOptions {
  /** Instance ids; the first `voters` are voters, the rest learners. Default a,b,c,d. */
  ids?: readonly string[];
  voters?: number;
  /** "host:port" of the Consul HTTP API. */
  consulAddress: string;
  consulToken?: string;
  /** `pools:` + `routes:` YAML shared by every instance. */
  routingYaml: string;
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  adminToken?: string;
  /** >= 16 bytes (the transport's minimum). */
  secret?: string;
  accessLog?: boolean;
  level?: string;
  /** Deadline for each instance's /healthz; never below START_DEADLINE_MS (a loaded CI machine). */
  startTimeoutMs?: number;
  /**
   * One config file for every instance (the issue's way to ship it): listener ports from the
   * environment, cluster.id and cluster.dataDir from --node-id / --data-dir, the Raft listener
   * from the instance's own entry in peers. Default false: one file per instance.
   */
  sharedConfig?: boolean;
  /** Lists every instance's admin URL in admin.fleet (the dashboard's fleet view). */
  adminFleet?: boolean;
}

/** One instance of the fleet; `proc` is replaced on restart, earlier ones kept in `history`. */
/** Keys per GET /admin/routes: short test keys keep the URL far under the 16 KB header limit. */
const ROUTES_PER_REQUEST = 250;

export class FleetNode {
  proc: ShardgateChild | undefined;
  readonly history: ShardgateChild[] = [];
  /** Set while the test has deliberately killed it. */
  killed = false;

  constructor(
    readonly spec: FleetNodeSpec,
    readonly voter: boolean,
    readonly configPath: string,
    /** Arguments after `start --config FILE`. */
    readonly args: readonly string[] = [],
    /** Environment of this instance (beyond the shared secret). */
    readonly env: Readonly<Record<string, string>> = {},
  ) {}

  get id(): string {
    return this.spec.id;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.spec.httpPort}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.spec.adminPort}`;
  }

  get alive(): boolean {
    return this.proc !== undefined && this.proc.exit === undefined;
  }

  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  /** Every access-log line this instance wrote, across restarts. */
  accessLines(): LogLine[] {
    const out: LogLine[] = [];
    for (const p of this.history) for (const l of p.lines) if (l.type === "access") out.push(l);
    return out;
  }

  /** Every JSON log line this instance wrote, across restarts, that matches `pred`. */
  logLines(pred: (l: LogLine) => boolean): LogLine[] {
    const out: LogLine[] = [];
    for (const p of this.history) for (const l of p.lines) if (pred(l)) out.push(l);
    return out;
  }

  /** Everything the current process printed (for assertion messages), trimmed to the tail. */
  tail(chars = 4000): string {
    const text = this.proc?.output() ?? "(never started)";
    return text.length > chars ? `...${text.slice(-chars)}` : text;
  }
}

export interface Converged {
  leader: string;
  term: number;
  ringVersion: number;
  appliedIndex: number;
  states: Map<string, StateView>;
}

export class FleetCluster {
  readonly nodes: FleetNode[];
  readonly adminToken: string;
  readonly secret: string;
  private readonly dir: string;
  private readonly startTimeoutMs: number;
  private readonly allPids = new Set<number>();

  private constructor(
    nodes: FleetNode[],
    dir: string,
    adminToken: string,
    secret: string,
    startTimeoutMs: number,
  ) {
    this.nodes = nodes;
    this.dir = dir;
    this.adminToken = adminToken;
    this.secret = secret;
    this.startTimeoutMs = startTimeoutMs;
  }

  /** Writes the configs and starts every instance at once (an instance may wait for its peers). */
  static async start(o: FleetOptions): Promise<FleetCluster> {
    // Ports are free when picked but not reserved: a test running beside this one may take one
    // before an instance binds it. That (EADDRINUSE) is retried with fresh ports, once.
    for (let attempt = 1; ; attempt++) {
      try {
        return await FleetCluster.startOnce(o);
      } catch (err) {
        if (attempt >= 2 || !/EADDRINUSE|already in use/.test(String(err))) throw err;
      }
    }
  }

  private static async startOnce(o: FleetOptions): Promise<FleetCluster> {
    const ids = o.ids ?? ["a", "b", "c", "d"];
    const nVoters = o.voters ?? 3;
    if (nVoters < 1 || nVoters > ids.length) throw new Error(`voters must be 1..${ids.length}`);
    const secret = o.secret ?? "e2e-fleet-secret-0123456789abcdef";
    const adminToken = o.adminToken ?? "e2e-admin-token-0123456789";
    const dir = mkdtempSync(join(tmpdir(), "shardgate-fleet-"));
    const specs = await fleetNodeSpecs(ids, dir, (id) => join(dir, id, "data"));
    const voters = ids.slice(0, nVoters);
    const yaml = (self: FleetNodeSpec | undefined) =>
      fleetConfigYaml({
        self,
        nodes: specs,
        voters,
        consulAddress: o.consulAddress,
        consulToken: o.consulToken,
        electionTimeoutMs: o.electionTimeoutMs ?? 400,
        heartbeatMs: o.heartbeatMs ?? 50,
        adminToken,
        routingYaml: o.routingYaml,
        accessLog: o.accessLog,
        level: o.level,
        adminFleet: o.adminFleet,
      });
    const sharedPath = join(dir, "shardgate.yaml");
    if (o.sharedConfig) writeFileSync(sharedPath, yaml(undefined));
    const nodes = specs.map((spec) => {
      mkdirSync(join(dir, spec.id), { recursive: true });
      const voter = voters.includes(spec.id);
      if (o.sharedConfig) {
        return new FleetNode(spec, voter, sharedPath, ["--node-id", spec.id, "--data-dir", spec.dataDir], {
          [SHARED_HTTP_PORT_ENV]: String(spec.httpPort),
          [SHARED_ADMIN_PORT_ENV]: String(spec.adminPort),
        });
      }
      const configPath = join(dir, spec.id, "shardgate.yaml");
      writeFileSync(configPath, yaml(spec));
      return new FleetNode(spec, voter, configPath);
    });
    const cluster = new FleetCluster(
      nodes,
      dir,
      adminToken,
      secret,
      scaled(Math.max(o.startTimeoutMs ?? 0, START_DEADLINE_MS)),
    );
    const started = await Promise.allSettled(nodes.map((n) => cluster.spawn(n)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed !== undefined) {
      await cluster.stop();
      throw failed.reason;
    }
    return cluster;
  }

  node(id: string): FleetNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no fleet node ${id}`);
    return n;
  }

  /** Log lines of every instance matching `pred`, ordered by their pino `time` (ms since epoch). */
  logLines(pred: (l: LogLine) => boolean): Array<LogLine & { node: string }> {
    const out: Array<LogLine & { node: string }> = [];
    for (const n of this.nodes) for (const l of n.logLines(pred)) out.push({ ...l, node: n.id });
    return out.sort((x, y) => Number(x.time) - Number(y.time));
  }

  live(): FleetNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  private async spawn(n: FleetNode): Promise<void> {
    // Voters found the fleet on their first start only (as an operator would); a restart,
    // even on a deleted data directory, joins the existing cluster.
    const found = n.voter && n.history.length === 0 ? ["--bootstrap"] : [];
    const proc = new ShardgateChild(["start", "--config", n.configPath, ...n.args, ...found], {
      env: { ...n.env, SHARDGATE_CLUSTER_SECRET: this.secret },
    });
    n.proc = proc;
    n.history.push(proc);
    n.killed = false;
    if (proc.child.pid !== undefined) this.allPids.add(proc.child.pid);
    // The ports are known up front, so /healthz answering is the start signal at any log level.
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (proc.exit !== undefined) throw new Error(`${n.id} exited while starting\n${proc.output()}`);
      const ok = await httpRequest(`${n.adminUrl}/healthz`, { timeoutMs: 1_000, fresh: true }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline)
        throw new Error(`${n.id}: /healthz not 200 within ${this.startTimeoutMs}ms\n${proc.output()}`);
      await sleep(50);
    }
  }

  /** SIGKILL, then waits for the exit (no graceful shutdown, no flushed buffers). */
  async kill9(n: FleetNode): Promise<void> {
    const proc = n.proc;
    if (proc === undefined || proc.exit !== undefined) throw new Error(`${n.id} is not running`);
    n.killed = true;
    proc.signal("SIGKILL");
    const r = await proc.waitExit(10_000);
    if (r.signal !== "SIGKILL") throw new Error(`${n.id} exited with ${JSON.stringify(r)}, not by SIGKILL`);
  }

  /** Starts the instance again with the same config file, dataDir and ports. */
  async restart(n: FleetNode): Promise<void> {
    if (n.alive) throw new Error(`${n.id} is still running`);
    await this.spawn(n);
  }

  // ------------------------------------------------------------------ admin API

  async stateOf(n: FleetNode): Promise<StateView> {
    const r = await httpRequest(`${n.adminUrl}/admin/state`, { timeoutMs: 5_000 });
    if (r.status !== 200) throw new Error(`${n.id} /admin/state: ${r.status} ${r.text}`);
    return parseState(`${n.id} /admin/state`, r.body);
  }

  async readyz(n: FleetNode): Promise<{ status: number; body: unknown; text: string }> {
    const r = await httpRequest(`${n.adminUrl}/readyz`, { timeoutMs: 5_000 });
    return { status: r.status, body: r.body, text: r.text };
  }

  async routeOf(n: FleetNode, pool: string, key: string): Promise<RouteView> {
    const url = `${n.adminUrl}/admin/route?pool=${encodeURIComponent(pool)}&key=${encodeURIComponent(key)}`;
    const r = await httpRequest(url, { timeoutMs: 10_000 });
    if (r.status !== 200) throw new Error(`${n.id} /admin/route ${pool} ${key}: ${r.status} ${r.text}`);
    return parseRoute(`${n.id} /admin/route`, r.body);
  }

  /**
   * Route explanations for many keys, in key order: GET /admin/routes, ROUTES_PER_REQUEST keys
   * a request (each answered from one ring snapshot), `concurrency` requests in flight. One
   * /admin/route call per key made 4 x 10,000 answers take 170 s at load 40 (fleet-routing (a)).
   */
  async routes(n: FleetNode, pool: string, keys: readonly string[], concurrency = 2): Promise<RouteView[]> {
    const chunks: string[][] = [];
    for (let i = 0; i < keys.length; i += ROUTES_PER_REQUEST)
      chunks.push(keys.slice(i, i + ROUTES_PER_REQUEST));
    const answers = await mapLimit(chunks, concurrency, async (chunk) => {
      const q = chunk.map((k) => `&key=${encodeURIComponent(k)}`).join("");
      const r = await httpRequest(`${n.adminUrl}/admin/routes?pool=${encodeURIComponent(pool)}${q}`, {
        timeoutMs: 10_000,
      });
      if (r.status !== 200)
        throw new Error(`${n.id} /admin/routes ${pool} (${chunk.length} keys): ${r.status} ${r.text}`);
      const routes = (r.body as { routes?: unknown } | undefined)?.routes;
      if (!Array.isArray(routes) || routes.length !== chunk.length)
        throw new Error(
          `${n.id} /admin/routes: expected ${chunk.length} routes, got ${r.text.slice(0, 300)}`,
        );
      return routes.map((b) => parseRoute(`${n.id} /admin/routes`, b));
    });
    return answers.flat();
  }

  /** An authenticated admin POST; returns status and body (callers assert on both). */
  async adminPost(
    n: FleetNode,
    path: string,
    json?: unknown,
  ): Promise<{ status: number; body: unknown; text: string }> {
    const r = await httpRequest(`${n.adminUrl}${path}`, {
      method: "POST",
      json: json ?? {},
      headers: { authorization: `Bearer ${this.adminToken}` },
      timeoutMs: 15_000,
    });
    return { status: r.status, body: r.body, text: r.text };
  }

  /** Drops the Raft transport between `n` and `peer`, on `n`'s side. */
  async cut(n: FleetNode, peer: string): Promise<void> {
    const r = await this.adminPost(n, DEBUG_CUT_PATH, { peer });
    if (r.status !== 200) throw new Error(`${n.id} ${DEBUG_CUT_PATH} ${peer}: ${r.status} ${r.text}`);
  }

  async heal(n: FleetNode, peer: string): Promise<void> {
    const r = await this.adminPost(n, DEBUG_HEAL_PATH, { peer });
    if (r.status !== 200) throw new Error(`${n.id} ${DEBUG_HEAL_PATH} ${peer}: ${r.status} ${r.text}`);
  }

  /** Cuts `n` off from every other instance, on both sides of every link. */
  async isolate(n: FleetNode): Promise<void> {
    for (const o of this.nodes) {
      if (o === n) continue;
      await this.cut(n, o.id);
      if (o.alive) await this.cut(o, n.id);
    }
  }

  async rejoin(n: FleetNode): Promise<void> {
    for (const o of this.nodes) {
      if (o === n) continue;
      await this.heal(n, o.id);
      if (o.alive) await this.heal(o, n.id);
    }
  }

  // ------------------------------------------------------------------ agreement

  /** States of the given instances (default: every live one), read concurrently. */
  async states(nodes: readonly FleetNode[] = this.live()): Promise<Map<string, StateView>> {
    const list = await Promise.all(nodes.map((n) => this.stateOf(n)));
    return new Map(nodes.map((n, i) => [n.id, list[i]]));
  }

  /**
   * Waits until the given instances (default: every live one) agree: one leader that they all
   * name and that calls itself leader, the same ringVersion and appliedIndex, and `accept`
   * (if given) holds for every state. Bounded by `timeoutMs`; the error shows the last states.
   */
  async waitConverged(
    opts: { nodes?: readonly FleetNode[]; timeoutMs?: number; accept?: (s: StateView) => boolean } = {},
  ): Promise<Converged> {
    const timeoutMs = scaled(opts.timeoutMs ?? CONDITION_DEADLINE_MS);
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const nodes = opts.nodes ?? this.live();
      try {
        const states = await this.states(nodes);
        const c = agreement(states, opts.accept);
        if (typeof c !== "string") return c;
        last = c;
      } catch (err) {
        last = String(err);
      }
      await sleep(30);
    }
    throw new Error(`fleet did not converge within ${timeoutMs}ms: ${last}`);
  }

  /** Waits until every given instance shows `member` of `pool` with breaker `state`. */
  async waitBreaker(
    pool: string,
    member: string,
    state: BreakerView,
    opts: { nodes?: readonly FleetNode[]; timeoutMs?: number; everyMs?: number } = {},
  ): Promise<Map<string, StateView>> {
    return this.waitAll(
      `breaker ${pool}/${member} ${state}`,
      (s) => s.pools[pool]?.members.find((m) => m.id === member)?.breaker === state,
      opts,
    );
  }

  /** Polls every given instance's state until `pred` holds for all of them at once. */
  async waitAll(
    what: string,
    pred: (s: StateView) => boolean,
    opts: { nodes?: readonly FleetNode[]; timeoutMs?: number; everyMs?: number } = {},
  ): Promise<Map<string, StateView>> {
    const timeoutMs = scaled(opts.timeoutMs ?? CONDITION_DEADLINE_MS);
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const nodes = opts.nodes ?? this.live();
      try {
        const states = await this.states(nodes);
        if ([...states.values()].every(pred)) return states;
        last = [...states].map(([id, s]) => `${id}: ${summarizeState(s)}`).join("\n");
      } catch (err) {
        last = String(err);
      }
      await sleep(opts.everyMs ?? 20);
    }
    throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last states:\n${last}`);
  }

  // ------------------------------------------------------------------ teardown

  /** Stops every instance (SIGTERM, then SIGKILL) and removes the temp dirs; returns leftover PIDs. */
  async stop(): Promise<number[]> {
    await Promise.all(this.nodes.map((n) => n.proc?.stop(5_000)));
    const left: number[] = [];
    for (const pid of this.allPids) if (pidAlive(pid)) left.push(pid);
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    return left;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One line per state for error messages. */
export function summarizeState(s: StateView): string {
  const pools = Object.entries(s.pools)
    .map(
      ([name, p]) =>
        `${name}@${p.ringVersion}[${p.members.map((m) => `${m.id}${m.healthy ? "" : "!down"}${m.draining ? "!drained" : ""}${m.breaker === "closed" ? "" : `!${m.breaker}`}`).join(",")}]`,
    )
    .join(" ");
  const r = s.raft;
  // A node that stopped applying names what it waits on (degraded apply_stalled).
  const degraded =
    s.degraded === undefined
      ? ""
      : ` degraded=${s.degraded}${s.degradedCause ? ` (${s.degradedCause})` : ""}`;
  return `role=${r.role} term=${r.term} leader=${r.leader} commit=${r.commitIndex} applied=${r.appliedIndex} ringVersion=${s.ringVersion} ${pools}${degraded}`;
}

/** A Converged when the states agree, else a description of the disagreement. */
function agreement(states: Map<string, StateView>, accept?: (s: StateView) => boolean): Converged | string {
  const list = [...states];
  const describe = () => list.map(([id, s]) => `${id}: ${summarizeState(s)}`).join("\n");
  const first = list[0][1];
  const leader = first.raft.leader;
  if (leader === null) return `no leader known\n${describe()}`;
  for (const [, s] of list) {
    if (s.raft.leader !== leader) return `leaders differ\n${describe()}`;
    if (s.ringVersion !== first.ringVersion) return `ring versions differ\n${describe()}`;
    if (s.raft.appliedIndex !== first.raft.appliedIndex) return `applied indexes differ\n${describe()}`;
    if (accept !== undefined && !accept(s)) return `condition not met\n${describe()}`;
  }
  const ls = states.get(leader);
  if (ls !== undefined && ls.raft.role !== "leader")
    return `${leader} does not call itself leader\n${describe()}`;
  return {
    leader,
    term: ls?.raft.term ?? first.raft.term,
    ringVersion: first.ringVersion,
    appliedIndex: first.raft.appliedIndex,
    states,
  };
}
