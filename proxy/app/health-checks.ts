// One active health checker (health/active-check.ts) per pool that has a healthCheck section,
// reconciled against every applied config: a pool whose check settings are unchanged keeps its
// checker and only has its member set updated (members that stay keep their counters); changed
// settings get a new checker; pools that lose their check are stopped and their members marked
// healthy again (nothing would ever clear the flag otherwise). State changes go to one
// callback, which applies them to the RuntimeState off the request path.

import type { HealthCheckConfig, PoolConfig } from "../../config/schema.js";
import { type ActiveCheckOptions, ActiveHealthChecker } from "../../health/active-check.js";
import { hashKey } from "../../ring/hash.js";

export type HealthChange = (pool: string, member: string, healthy: boolean, reason: string) => void;

interface Entry {
  signature: string;
  checker: ActiveHealthChecker;
}

/**
 * Maps the config's check section to the checker's options. The config allows several
 * expected-status ranges; the checker takes one, so several ranges use their hull (reported
 * through `warn` once per pool).
 */
export function checkOptions(
  pool: string,
  c: HealthCheckConfig,
  warn: (msg: string) => void,
): ActiveCheckOptions {
  const from = Math.min(...c.expectStatus.map((r) => r.from));
  const to = Math.max(...c.expectStatus.map((r) => r.to));
  if (c.expectStatus.length > 1) {
    warn(`pool "${pool}": healthCheck.expectStatus has several ranges; checking ${from}-${to} (their hull)`);
  }
  return {
    path: c.path,
    intervalMs: c.interval,
    timeoutMs: c.timeout,
    healthyThreshold: c.healthyThreshold,
    unhealthyThreshold: c.unhealthyThreshold,
    expectedStatus: { min: from, max: to },
    // Per-pool seed: start jitter differs between pools but is the same on every run.
    seed: hashKey(pool),
  };
}

export class HealthChecks {
  private readonly running = new Map<string, Entry>();

  constructor(
    private readonly onChange: HealthChange,
    private readonly warn: (msg: string) => void,
  ) {}

  /** Reconciles the running checkers with the applied pools. */
  sync(pools: Readonly<Record<string, PoolConfig>>): void {
    for (const [pool, entry] of this.running) {
      const check = pools[pool]?.healthCheck;
      if (check === undefined) {
        entry.checker.stop();
        this.running.delete(pool);
        // The pool stays but is no longer checked: clear any "unhealthy" the checker had set.
        for (const m of pools[pool]?.members ?? []) this.onChange(pool, m.id, true, "health check removed");
      }
    }
    for (const [pool, settings] of Object.entries(pools)) {
      const check = settings.healthCheck;
      if (check === undefined) continue;
      const signature = JSON.stringify(check);
      let entry = this.running.get(pool);
      if (entry !== undefined && entry.signature !== signature) {
        entry.checker.stop();
        entry = undefined;
      }
      if (entry === undefined) {
        const checker = new ActiveHealthChecker(
          checkOptions(pool, check, this.warn),
          (member, healthy, reason) => this.onChange(pool, member, healthy, reason),
        );
        entry = { signature, checker };
        this.running.set(pool, entry);
      }
      entry.checker.setMembers(
        settings.members.map((m) => ({ id: m.id, address: m.address.host, port: m.address.port })),
      );
    }
  }

  /** Members currently probed, over all pools. */
  get size(): number {
    let n = 0;
    for (const e of this.running.values()) n += e.checker.states().length;
    return n;
  }

  stopAll(): void {
    for (const entry of this.running.values()) entry.checker.stop();
    this.running.clear();
  }
}
