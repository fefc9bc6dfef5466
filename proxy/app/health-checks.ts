// Keeps one active health checker per (pool, member) whose pool has a healthCheck section,
// reconciled against every applied config: members that stay with the same address and check
// settings keep their checker (and its counters), changed ones get a new one, leavers are
// stopped. A checker's state changes go to one callback, which applies them to the
// RuntimeState off the request path.

import type { Address, HealthCheckConfig, PoolConfig } from "../../config/schema.js";
import type { RoutingState } from "../routing/types.js";

export interface CheckTarget {
  readonly pool: string;
  readonly member: string;
  readonly address: Address;
  readonly check: HealthCheckConfig;
  /** The member's current flag, so a replaced checker starts where the old one left off. */
  readonly initiallyHealthy: boolean;
}

export type HealthChange = (
  pool: string,
  member: string,
  healthy: boolean,
  detail: Record<string, unknown>,
) => void;

export interface RunningCheck {
  stop(): void;
}

/** Starts checking `target`; calls `onChange(healthy, detail)` on every state change. */
export type CheckerFactory = (
  target: CheckTarget,
  onChange: (healthy: boolean, detail: Record<string, unknown>) => void,
) => RunningCheck;

interface Entry {
  signature: string;
  check: RunningCheck;
}

export class HealthChecks {
  private readonly running = new Map<string, Entry>();

  constructor(
    private readonly factory: CheckerFactory,
    private readonly onChange: HealthChange,
  ) {}

  /** Reconciles the running checkers with the applied pools. */
  sync(state: RoutingState, pools: Readonly<Record<string, PoolConfig>>): void {
    const wanted = new Set<string>();
    for (const [pool, settings] of Object.entries(pools)) {
      const check = settings.healthCheck;
      if (check === undefined) continue;
      const snap = state.pools.get(pool);
      for (const m of settings.members) {
        const key = `${pool}\u0000${m.id}`;
        wanted.add(key);
        const signature = JSON.stringify([m.address, check]);
        const existing = this.running.get(key);
        if (existing !== undefined && existing.signature === signature) continue;
        existing?.check.stop();
        const index = snap?.byId.get(m.id);
        const initiallyHealthy = index === undefined ? true : (snap?.members[index].healthy ?? true);
        const target: CheckTarget = { pool, member: m.id, address: m.address, check, initiallyHealthy };
        const running = this.factory(target, (healthy, detail) => this.onChange(pool, m.id, healthy, detail));
        this.running.set(key, { signature, check: running });
      }
    }
    for (const [key, entry] of this.running) {
      if (!wanted.has(key)) {
        entry.check.stop();
        this.running.delete(key);
      }
    }
  }

  get size(): number {
    return this.running.size;
  }

  stopAll(): void {
    for (const entry of this.running.values()) entry.check.stop();
    this.running.clear();
  }
}
