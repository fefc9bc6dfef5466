// Active HTTP health checks for statically configured members (or to double-check Consul):
// each member is probed on its own timer, over one shared keep-alive agent, with a seeded
// random first delay so a fleet of members is not probed in lockstep. A member turns
// unhealthy after `unhealthyThreshold` consecutive failures and healthy again after
// `healthyThreshold` consecutive successes; as in Envoy, the very first probe of a new member
// decides its initial state on its own. State changes go to one callback.

import http from "node:http";
import type { LookupFunction } from "node:net";
import { formatHostPort } from "../config/address.js";
import { CodedError } from "../config/coded-error.js";
import type { HealthCheckConfig, StatusRange } from "../config/file/schema.js";
import { seededRandom } from "../ring/random.js";
import { localExhaustionCode } from "./local-exhaustion.js";

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

/** Whether `status` is in one of the configured ranges (each, not their hull). */
function expected(ranges: readonly StatusRange[], status: number): boolean {
  for (const r of ranges) if (status >= r.from && status <= r.to) return true;
  return false;
}

/** "200-399", "200, 204": the ranges as the reason for a failed probe names them. */
function rangesText(ranges: readonly StatusRange[]): string {
  return ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(", ");
}

/**
 * How often a probe's deadline may be re-armed because it fired late (the checker's own event
 * loop stalled past it), and how late counts as stalled: timers run a few ms late on any
 * machine, so only a delay past a quarter of the timeout (at least 25 ms) is the loop's own.
 * A member that really hangs is still judged, after at most 1 + MAX_STALL_GRACES timeouts of
 * time the checker could watch.
 */
const MAX_STALL_GRACES = 2;
function stallSlack(timeoutMs: number): number {
  return Math.max(25, timeoutMs / 4);
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
  private readonly agent: http.Agent;
  private readonly members = new Map<string, Probe>();
  private readonly random: () => number;
  /** The failure reason's tail, written once: "outside 200-399". */
  private readonly outside: string;
  private stopped = false;

  /**
   * `check` is a pool's healthCheck section as the config schema produced it (durations in
   * ms, statuses as ranges, timeout <= interval already checked); `seed` jitters first probes.
   */
  constructor(
    readonly check: Readonly<HealthCheckConfig>,
    private readonly onChange: HealthChange,
    seed = 1,
    /** Resolves hostname members (default Node's getaddrinfo; the process passes its bounded lookup). */
    lookup?: LookupFunction,
    /** Told each probe this instance could not send for its own shortage (EMFILE, ...): the process counts it. */
    private readonly onLocalShortage?: (code: string) => void,
  ) {
    this.random = seededRandom(seed);
    this.outside = `outside ${rangesText(check.expectStatus)}`;
    // One socket per member is enough: probes of one member never overlap.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: check.interval * 2, lookup });
  }

  /**
   * Reconciles the probed set: starts new members, stops removed ones, restarts moved ones.
   * Targets come from the committed pool (ids unique, addresses parsed by the schema).
   */
  setMembers(members: readonly CheckTarget[]): void {
    if (this.stopped) throw new CodedError("HEALTH_CHECKER_STOPPED", "active check: setMembers after stop()");
    const want = new Map<string, CheckTarget>();
    for (const m of members) want.set(m.id, { id: m.id, address: m.address, port: m.port });
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
      this.schedule(p, Math.floor(this.random() * this.check.interval));
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

  /** The member's observed health (undefined: not probed to a verdict yet, or not probed). */
  observedHealth(memberId: string): boolean | undefined {
    return this.members.get(memberId)?.healthy;
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
    const c = this.check;
    let settled = false;
    // null: no verdict (this instance's own shortage, health/local-exhaustion.ts).
    const done = (success: boolean | null, reason: string) => {
      if (settled) return;
      settled = true;
      if (p.deadline !== undefined) clearTimeout(p.deadline);
      p.deadline = undefined;
      p.req = undefined;
      if (p.stopped) return;
      this.result(p, success, reason);
      this.schedule(p, Math.max(0, c.interval - (performance.now() - started)));
    };
    const { address, port } = p.target;
    const req = http.request(
      {
        host: address,
        port,
        path: c.path,
        method: "GET",
        agent: this.agent,
        headers: {
          Host: formatHostPort(address, port),
          "User-Agent": "shardgate-health-check",
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on("end", () => {
          if (expected(c.expectStatus, status)) done(true, `status ${status}`);
          else done(false, `status ${status} ${this.outside}`);
        });
        res.on("error", (err) => done(false, `response error: ${err.message}`));
      },
    );
    p.req = req;
    req.on("error", (err: NodeJS.ErrnoException) => {
      const local = localExhaustionCode(err);
      if (local !== null) {
        done(null, `${local}: this instance's own descriptor or port limit; no verdict`);
        try {
          this.onLocalShortage?.(local);
        } catch {
          // A throwing listener must not stop the probe loop.
        }
      } else done(false, err.code ? `${err.code}: ${err.message}` : err.message);
    });
    let graces = 0;
    let armedAt = started;
    const onDeadline = () => {
      // A deadline that fires late says our own event loop was stalled (a loaded machine), not
      // the member: an answer that arrived meanwhile is still unread in the socket. Re-arm for a
      // full timeout the loop can actually watch, a bounded number of times, before judging.
      const now = performance.now();
      if (now - armedAt - c.timeout > stallSlack(c.timeout) && graces < MAX_STALL_GRACES) {
        graces++;
        armedAt = now;
        p.deadline = setTimeout(onDeadline, c.timeout);
        return;
      }
      done(false, `timeout after ${c.timeout}ms`);
      req.destroy();
    };
    p.deadline = setTimeout(onDeadline, c.timeout);
    req.end();
  }

  private result(p: Probe, success: boolean | null, reason: string): void {
    p.probes++;
    p.lastReason = reason;
    // A probe this instance could not send says nothing of the member: neither run moves, so a
    // descriptor shortage never marks a member down (the leader would commit it for the fleet).
    if (success === null) return;
    const o = this.check;
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
