// Active HTTP health checks for statically configured members (or to double-check Consul):
// each member is probed on its own timer, over one shared keep-alive agent, with a seeded
// random first delay so a fleet of members is not probed in lockstep. A member turns
// unhealthy after `unhealthyThreshold` consecutive failures and healthy again after
// `healthyThreshold` consecutive successes; as in Envoy, the very first probe of a new member
// decides its initial state on its own. State changes go to one callback.

import http from "node:http";
import { formatHostPort } from "../config/address.js";
import { seededRandom } from "../ring/random.js";

export interface ActiveCheckOptions {
  /** Request path (default "/health"); must start with "/". */
  path?: string;
  /** Time between probe starts (default 5000 ms). */
  intervalMs?: number;
  /** Whole-probe deadline, connect to last body byte (default 2000 ms; <= intervalMs). */
  timeoutMs?: number;
  /** Consecutive successes to turn healthy (default 2) and failures to turn unhealthy (default 3). */
  healthyThreshold?: number;
  unhealthyThreshold?: number;
  /** Inclusive range of statuses that count as success (default 200..399). */
  expectedStatus?: { min: number; max: number };
  /** Host header to send (default the member's address:port). */
  hostHeader?: string;
  /** Seed for the start jitter (default 1). */
  seed?: number;
}

/** A member to probe. */
export interface CheckTarget {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

export type HealthChange = (memberId: string, healthy: boolean, reason: string) => void;

export interface MemberCheckState {
  readonly id: string;
  /** undefined until the first probe completes. */
  readonly healthy: boolean | undefined;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly lastReason: string;
  readonly probes: number;
}

export class ActiveCheckConfigError extends Error {
  readonly code = "HEALTH_INVALID_ACTIVE_CHECK";
  override name = "ActiveCheckConfigError";
}

interface Resolved {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  min: number;
  max: number;
  hostHeader: string | undefined;
}

function int(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ActiveCheckConfigError(
      `active check: ${name} must be an integer in [${min}, ${max}], got ${String(v)}`,
    );
  }
  return v;
}

/** Validates options and fills defaults; errors name the field. */
export function resolveActiveCheckOptions(o: ActiveCheckOptions = {}): Readonly<Resolved> {
  const path = o.path ?? "/health";
  if (typeof path !== "string" || !path.startsWith("/") || /[\s]/.test(path)) {
    throw new ActiveCheckConfigError(
      `active check: path must start with "/" and contain no spaces, got ${JSON.stringify(path)}`,
    );
  }
  const intervalMs = int("intervalMs", o.intervalMs, 5000, 1, 86_400_000);
  const timeoutMs = int("timeoutMs", o.timeoutMs, Math.min(2000, intervalMs), 1, intervalMs);
  const range = o.expectedStatus ?? { min: 200, max: 399 };
  const min = int("expectedStatus.min", range.min, 200, 100, 599);
  const max = int("expectedStatus.max", range.max, 399, min, 599);
  if (o.hostHeader !== undefined && (typeof o.hostHeader !== "string" || o.hostHeader === "")) {
    throw new ActiveCheckConfigError("active check: hostHeader must be a non-empty string");
  }
  return Object.freeze({
    path,
    intervalMs,
    timeoutMs,
    healthyThreshold: int("healthyThreshold", o.healthyThreshold, 2, 1, 1000),
    unhealthyThreshold: int("unhealthyThreshold", o.unhealthyThreshold, 3, 1, 1000),
    min,
    max,
    hostHeader: o.hostHeader,
  });
}

interface Probe {
  target: CheckTarget;
  healthy: boolean | undefined;
  ok: number;
  fail: number;
  lastReason: string;
  probes: number;
  timer: NodeJS.Timeout | undefined;
  req: http.ClientRequest | undefined;
  deadline: NodeJS.Timeout | undefined;
  stopped: boolean;
}

export class ActiveHealthChecker {
  readonly options: Readonly<Resolved>;
  private readonly agent: http.Agent;
  private readonly members = new Map<string, Probe>();
  private readonly random: () => number;
  private stopped = false;

  constructor(
    opts: ActiveCheckOptions,
    private readonly onChange: HealthChange,
  ) {
    if (typeof onChange !== "function")
      throw new ActiveCheckConfigError("active check: onChange callback required");
    this.options = resolveActiveCheckOptions(opts);
    this.random = seededRandom(opts.seed ?? 1);
    // One socket per member is enough: probes of one member never overlap.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: this.options.intervalMs * 2 });
  }

  /** Reconciles the probed set: starts new members, stops removed ones, restarts moved ones. */
  setMembers(members: readonly CheckTarget[]): void {
    if (this.stopped) throw new ActiveCheckConfigError("active check: setMembers after stop()");
    if (!Array.isArray(members)) throw new ActiveCheckConfigError("active check: members must be an array");
    const want = new Map<string, CheckTarget>();
    for (const m of members) {
      if (m === null || typeof m !== "object" || typeof m.id !== "string" || m.id === "") {
        throw new ActiveCheckConfigError("active check: every member needs a non-empty string id");
      }
      if (
        typeof m.address !== "string" ||
        m.address === "" ||
        !Number.isInteger(m.port) ||
        m.port < 1 ||
        m.port > 65535
      ) {
        throw new ActiveCheckConfigError(
          `active check: member ${JSON.stringify(m.id)} needs an address and a port 1..65535`,
        );
      }
      if (want.has(m.id))
        throw new ActiveCheckConfigError(`active check: duplicate member id ${JSON.stringify(m.id)}`);
      want.set(m.id, { id: m.id, address: m.address, port: m.port });
    }
    for (const [id, p] of this.members) {
      const w = want.get(id);
      if (w === undefined || w.address !== p.target.address || w.port !== p.target.port) {
        this.halt(p);
        this.members.delete(id);
      }
    }
    for (const [id, t] of want) {
      if (this.members.has(id)) continue;
      const p: Probe = {
        target: t,
        healthy: undefined,
        ok: 0,
        fail: 0,
        lastReason: "not probed yet",
        probes: 0,
        timer: undefined,
        req: undefined,
        deadline: undefined,
        stopped: false,
      };
      this.members.set(id, p);
      // Jittered first probe within one interval so members are not probed in lockstep.
      this.schedule(p, Math.floor(this.random() * this.options.intervalMs));
    }
  }

  state(memberId: string): MemberCheckState | undefined {
    const p = this.members.get(memberId);
    if (p === undefined) return undefined;
    return {
      id: memberId,
      healthy: p.healthy,
      consecutiveSuccesses: p.ok,
      consecutiveFailures: p.fail,
      lastReason: p.lastReason,
      probes: p.probes,
    };
  }

  states(): MemberCheckState[] {
    return [...this.members.keys()].map((id) => this.state(id) as MemberCheckState);
  }

  /** Stops every probe, aborts in-flight requests and closes the agent's sockets. */
  stop(): void {
    this.stopped = true;
    for (const p of this.members.values()) this.halt(p);
    this.members.clear();
    this.agent.destroy();
  }

  private halt(p: Probe): void {
    p.stopped = true;
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.deadline !== undefined) clearTimeout(p.deadline);
    p.timer = undefined;
    p.deadline = undefined;
    p.req?.destroy();
    p.req = undefined;
  }

  private schedule(p: Probe, delay: number): void {
    if (p.stopped) return;
    p.timer = setTimeout(() => this.probe(p), delay);
  }

  private probe(p: Probe): void {
    p.timer = undefined;
    if (p.stopped) return;
    const started = performance.now();
    const o = this.options;
    let settled = false;
    const done = (success: boolean, reason: string) => {
      if (settled) return;
      settled = true;
      if (p.deadline !== undefined) clearTimeout(p.deadline);
      p.deadline = undefined;
      p.req = undefined;
      if (p.stopped) return;
      this.result(p, success, reason);
      this.schedule(p, Math.max(0, o.intervalMs - (performance.now() - started)));
    };
    const { address, port } = p.target;
    const req = http.request(
      {
        host: address,
        port,
        path: o.path,
        method: "GET",
        agent: this.agent,
        headers: {
          Host: o.hostHeader ?? formatHostPort(address, port),
          "User-Agent": "shardgate-health-check",
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on("end", () => {
          if (status >= o.min && status <= o.max) done(true, `status ${status}`);
          else done(false, `status ${status} outside ${o.min}-${o.max}`);
        });
        res.on("error", (err) => done(false, `response error: ${err.message}`));
      },
    );
    p.req = req;
    req.on("error", (err: NodeJS.ErrnoException) =>
      done(false, err.code ? `${err.code}: ${err.message}` : err.message),
    );
    p.deadline = setTimeout(() => {
      done(false, `timeout after ${o.timeoutMs}ms`);
      req.destroy();
    }, o.timeoutMs);
    req.end();
  }

  private result(p: Probe, success: boolean, reason: string): void {
    p.probes++;
    p.lastReason = reason;
    const o = this.options;
    if (success) {
      p.ok++;
      p.fail = 0;
    } else {
      p.fail++;
      p.ok = 0;
    }
    let next = p.healthy;
    if (p.healthy === undefined) next = success;
    else if (!p.healthy && p.ok >= o.healthyThreshold) next = true;
    else if (p.healthy && p.fail >= o.unhealthyThreshold) next = false;
    if (next !== p.healthy) {
      p.healthy = next;
      try {
        this.onChange(p.target.id, next as boolean, reason);
      } catch {
        // A throwing listener must not stop the probe loop; the state change stands.
      }
    }
  }
}
