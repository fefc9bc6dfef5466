// Leader-side health controller for static members: one ActiveHealthChecker per committed
// pool with a `healthCheck` section probes the pool's static members from the leader only,
// and each burst of flips becomes one SetHealth (behind the same healthy-panic guard as
// Consul pools), so every instance agrees on the health of static members. Consul members
// are left to the membership controller: two sources for one flag would fight.
//
// A pool without a healthCheck has nothing that could ever mark a static member healthy
// again, so any static member committed unhealthy there is proposed healthy.

import type { LookupFunction } from "node:net";
import type { HealthCheckConfig } from "../config/file/schema.js";
import { ActiveHealthChecker, type CheckTarget, type MemberCheckState } from "./active-check.js";
import { errorText, numberOption } from "./controller/deps.js";
import { LeaderController, type LeaderControllerOptions } from "./controller/leader-controller.js";
import { guardCommitted } from "./controller/panic-guard.js";
import { ProposalCycle } from "./controller/proposal-cycle.js";
import { seedOf } from "./membership/seed.js";

/** What the controller needs from a checker; ActiveHealthChecker is one. */
export interface MemberChecker {
  setMembers(members: readonly CheckTarget[]): void;
  states(): MemberCheckState[];
  /**
   * A member's observed health (undefined: not probed yet, or not probed at all), without a
   * state object: a flush reads it for every member of the pool. Optional: a checker without
   * it is read through states().
   */
  observedHealth?(memberId: string): boolean | undefined;
  stop(): void;
}

/** `check` is the pool's committed healthCheck section, as the config schema produced it. */
export type CheckerFactory = (
  pool: string,
  check: HealthCheckConfig,
  onChange: (member: string, healthy: boolean, reason: string) => void,
) => MemberChecker;

export interface HealthControllerOptions extends LeaderControllerOptions {
  /** Default: `new ActiveHealthChecker(check, onChange, seedOf(pool))`. */
  checkerFactory?: CheckerFactory;
  /** Flips within this window go out as one SetHealth (default 50 ms; the checks' thresholds already debounce). */
  debounceMs?: number;
  /** Default 0.5, as for Consul pools; 0 turns the guard off. */
  panicThreshold?: number;
  /** Retry delay after a failed proposal (default 250 ms, doubling up to 5000 ms). */
  retryMs?: number;
  onPanic?: (pool: string, status: PoolHealthStatus) => void;
  /** The default checkers' hostname lookup (default Node's getaddrinfo). */
  lookup?: LookupFunction;
  /** The default checkers' probes this instance could not send (EMFILE, ENFILE, EADDRNOTAVAIL). */
  onLocalShortage?: (code: string) => void;
}

export interface PoolHealthStatus {
  readonly pool: string;
  readonly panic: boolean;
  readonly wouldBeHealthy: number;
  readonly total: number;
  readonly suppressed: readonly string[];
  readonly probed: number;
  readonly failedProposals: number;
  readonly lastProposalError: string | undefined;
}

interface PoolCheck {
  readonly pool: string;
  readonly key: string;
  readonly checker: MemberChecker | undefined;
  readonly cycle: ProposalCycle;
  panic: boolean;
  wouldBeHealthy: number;
  total: number;
  suppressed: readonly string[];
  membersKey: string;
}

// The seed from the pool's name: two pools' first probes are not jittered in lockstep.
function defaultFactory(
  lookup: LookupFunction | undefined,
  onLocalShortage: ((code: string) => void) | undefined,
): CheckerFactory {
  return (pool, check, onChange) =>
    new ActiveHealthChecker(check, onChange, seedOf(pool), lookup, onLocalShortage);
}

export class HealthController extends LeaderController {
  private readonly factory: CheckerFactory;
  private readonly debounceMs: number;
  private readonly panicThreshold: number;
  private readonly retryMs: number;
  private readonly onPanic: ((pool: string, status: PoolHealthStatus) => void) | undefined;
  private readonly pools = new Map<string, PoolCheck>();
  /** Pools without checks whose static members are being proposed healthy again. */
  private readonly clearing = new Set<string>();

  constructor(opts: HealthControllerOptions) {
    const what = "health controller";
    super(what, opts);
    this.factory = opts.checkerFactory ?? defaultFactory(opts.lookup, opts.onLocalShortage);
    this.debounceMs = numberOption(what, "debounceMs", opts.debounceMs, 50, 0, 60_000);
    this.panicThreshold = numberOption(what, "panicThreshold", opts.panicThreshold, 0.5, 0, 1);
    this.retryMs = numberOption(what, "retryMs", opts.retryMs, 250, 1, 600_000);
    this.onPanic = opts.onPanic;
  }

  /** Becoming leader: one checker per pool with a healthCheck. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.refresh();
  }

  /** Losing leadership: stops every checker and timer. */
  stop(): void {
    this.running = false;
    for (const p of this.pools.values()) this.close(p);
    this.pools.clear();
    this.clearing.clear();
  }

  /** Reconciles checkers and probed members with the committed state (call after applies). */
  refresh(): void {
    if (!this.running) return;
    const state = this.getState();
    for (const [name, p] of this.pools) {
      const hc = state.pools[name]?.settings.healthCheck;
      if (hc === undefined || JSON.stringify(hc) !== p.key) {
        this.close(p);
        this.pools.delete(name);
      }
    }
    for (const name of Object.keys(state.pools)) {
      const pool = state.pools[name];
      const hc = pool.settings.healthCheck;
      if (hc === undefined) {
        if (pool.members.some((m) => m.source === "static" && !m.healthy)) void this.clearUnchecked(name);
        continue;
      }
      let p = this.pools.get(name);
      if (p === undefined) p = this.open(name, hc);
      if (p.checker === undefined) continue;
      const targets: CheckTarget[] = [];
      for (const m of pool.members) {
        if (m.source === "static") targets.push({ id: m.id, address: m.address.host, port: m.address.port });
      }
      const membersKey = JSON.stringify(targets);
      if (membersKey !== p.membersKey) {
        p.membersKey = membersKey;
        try {
          p.checker.setMembers(targets);
        } catch (err) {
          this.log.error({ pool: name, err: errorText(err) }, "health check members rejected");
        }
      }
      this.touch(p);
    }
  }

  status(): Record<string, PoolHealthStatus> {
    const out: Record<string, PoolHealthStatus> = {};
    for (const p of this.pools.values()) out[p.pool] = this.statusOf(p);
    return out;
  }

  private statusOf(p: PoolCheck): PoolHealthStatus {
    return {
      pool: p.pool,
      panic: p.panic,
      wouldBeHealthy: p.wouldBeHealthy,
      total: p.total,
      suppressed: p.suppressed,
      probed: p.checker?.states().length ?? 0,
      failedProposals: p.cycle.failedProposals,
      lastProposalError: p.cycle.lastError,
    };
  }

  private open(name: string, hc: HealthCheckConfig): PoolCheck {
    const p: PoolCheck = {
      pool: name,
      key: JSON.stringify(hc),
      checker: undefined,
      cycle: new ProposalCycle(this.clock, () => void this.flush(p)),
      panic: false,
      wouldBeHealthy: 0,
      total: 0,
      suppressed: [],
      membersKey: "",
    };
    try {
      (p as { checker: MemberChecker | undefined }).checker = this.factory(name, hc, () => {
        if (!p.cycle.closed) this.touch(p);
      });
    } catch (err) {
      this.log.error({ pool: name, err: errorText(err) }, "cannot start health checks");
    }
    this.pools.set(name, p);
    return p;
  }

  private close(p: PoolCheck): void {
    p.cycle.close();
    try {
      p.checker?.stop();
    } catch (err) {
      this.log.warn({ pool: p.pool, err: errorText(err) }, "health checker did not stop cleanly");
    }
  }

  /** A flip starts one debounce window; flips inside it join the same SetHealth. */
  private touch(p: PoolCheck): void {
    const cycle = p.cycle;
    if (cycle.closed) return;
    if (cycle.inFlight) {
      cycle.again = true;
      return;
    }
    if (!cycle.armed) cycle.arm(this.debounceMs);
  }

  private async flush(p: PoolCheck): Promise<void> {
    const cycle = p.cycle;
    if (cycle.closed || p.checker === undefined || !this.running) return;
    const pool = this.getState().pools[p.pool];
    if (pool === undefined) return;
    const observedOf = observedLookup(p.checker);
    const members = pool.members;
    const g = guardCommitted(
      members,
      (i) => {
        const m = members[i];
        // Not probed yet, or a consul member: no opinion, keep what is committed.
        return m.source === "static" ? (observedOf(m.id) ?? m.healthy) : m.healthy;
      },
      this.panicThreshold,
    );
    p.wouldBeHealthy = g.wouldBeHealthy;
    p.total = g.total;
    p.suppressed = g.suppressed;
    if (g.panic !== p.panic) {
      p.panic = g.panic;
      if (g.panic)
        this.log.error(
          { pool: p.pool, wouldBeHealthy: g.wouldBeHealthy, total: g.total, suppressed: g.suppressed },
          "health panic: active checks would leave too few healthy members; keeping them routable",
        );
      else this.log.info({ pool: p.pool }, "health panic over");
      try {
        this.onPanic?.(p.pool, this.statusOf(p));
      } catch (err) {
        this.log.warn({ pool: p.pool, err: errorText(err) }, "onPanic callback threw");
      }
    }
    const health = g.changes;
    if (health.length === 0) return;
    const ok = await cycle.propose(this.propose, { v: 1, type: "SetHealth", pool: p.pool, health });
    if (!ok) this.log.warn({ pool: p.pool, err: cycle.lastError }, "health proposal failed; will retry");
    if (cycle.closed) return;
    if (!ok) cycle.arm(cycle.retryDelay(this.retryMs, 5000));
    else if (cycle.again) this.touch(p);
  }

  private async clearUnchecked(name: string): Promise<void> {
    if (this.clearing.has(name)) return;
    this.clearing.add(name);
    try {
      const pool = this.getState().pools[name];
      const health = (pool?.members ?? [])
        .filter((m) => m.source === "static" && !m.healthy)
        .map((m) => ({ member: m.id, healthy: true }));
      if (health.length > 0 && pool?.settings.healthCheck === undefined) {
        await this.propose({ v: 1, type: "SetHealth", pool: name, health });
      }
    } catch (err) {
      this.log.warn(
        { pool: name, err: errorText(err) },
        "could not mark unchecked static members healthy; will retry",
      );
      this.clock.setTimeout(() => this.refresh(), this.retryMs);
    } finally {
      this.clearing.delete(name);
    }
  }
}

/** A checker's observed health by member id: its own lookup, else one pass over states(). */
function observedLookup(checker: MemberChecker): (id: string) => boolean | undefined {
  if (checker.observedHealth !== undefined) return (id) => checker.observedHealth?.(id);
  const observed = new Map<string, boolean>();
  for (const s of checker.states()) if (s.healthy !== undefined) observed.set(s.id, s.healthy);
  return (id) => observed.get(id);
}
