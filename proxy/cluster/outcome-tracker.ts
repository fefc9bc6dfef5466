// Request outcomes for the fleet's circuit breakers, on this instance: one OutcomeRecorder per
// pool (each pool has its own failure statuses), with member -> slot maps rebuilt when the
// committed membership changes, so recording on the request path is two Map lookups and an
// increment. Every ~100 ms the cluster node drains the batch and delivers it to the leader's
// breaker controller. Also the per-instance probe budget of half-open members.

import type { ClusterStateData } from "../../config/cluster-state-types.js";
import { type OutcomeBatch, type OutcomeCounts, OutcomeRecorder } from "../../health/outcome-recorder.js";
import type { UpstreamErrorKind } from "../forward/types.js";
import type { PoolSnapshot, ProbeGate } from "../routing/types.js";

interface PoolOutcomes {
  readonly statusesKey: string;
  readonly recorder: OutcomeRecorder;
  readonly slots: Map<string, number>;
  /** Committed breaker state per member, to reset the probe budget when it changes. */
  readonly breaker: Map<string, string>;
  probeLimit: number;
}

class RecorderGate implements ProbeGate {
  constructor(
    private readonly recorder: OutcomeRecorder,
    private readonly slots: Int32Array,
    private readonly limit: number,
  ) {}
  admit(index: number): boolean {
    return this.recorder.admitProbe(this.slots[index], this.limit);
  }
}

export class OutcomeTracker {
  private readonly pools = new Map<string, PoolOutcomes>();

  /** Follows the committed pools and members (call after every applied change, before routing is rebuilt). */
  sync(data: ClusterStateData): void {
    for (const name of [...this.pools.keys()]) if (!(name in data.pools)) this.pools.delete(name);
    for (const [name, pool] of Object.entries(data.pools)) {
      const statuses = pool.settings.breaker.failureStatuses;
      const key = statuses.join(",");
      let p = this.pools.get(name);
      if (p === undefined || p.statusesKey !== key) {
        p = {
          statusesKey: key,
          recorder: new OutcomeRecorder({ failureStatuses: statuses }),
          slots: new Map(),
          breaker: new Map(),
          probeLimit: 0,
        };
        this.pools.set(name, p);
      }
      p.probeLimit = pool.settings.breaker.halfOpenProbes;
      const present = new Set<string>();
      for (const m of pool.members) {
        present.add(m.id);
        let slot = p.slots.get(m.id);
        if (slot === undefined) {
          slot = p.recorder.slot(name, m.id);
          p.slots.set(m.id, slot);
        }
        if (p.breaker.get(m.id) !== m.breaker.state) {
          p.recorder.resetProbes(slot);
          p.breaker.set(m.id, m.breaker.state);
        }
      }
      // A member that left keeps its recorder slot (slots are never reused); only the lookup goes.
      for (const id of [...p.slots.keys()]) {
        if (!present.has(id)) {
          p.slots.delete(id);
          p.breaker.delete(id);
        }
      }
    }
  }

  /** The probe gate of a freshly built snapshot (members in table order). */
  gateFor(snapshot: PoolSnapshot): ProbeGate | null {
    const p = this.pools.get(snapshot.name);
    if (p === undefined) return null;
    const slots = new Int32Array(snapshot.members.length);
    for (const m of snapshot.members) {
      let slot = p.slots.get(m.id);
      if (slot === undefined) {
        slot = p.recorder.slot(snapshot.name, m.id);
        p.slots.set(m.id, slot);
      }
      slots[m.index] = slot;
    }
    return new RecorderGate(p.recorder, slots, p.probeLimit);
  }

  /** A finished response from `member` (request path). */
  recordStatus(pool: string, member: string, status: number): void {
    const p = this.pools.get(pool);
    if (p === undefined) return;
    const slot = p.slots.get(member);
    if (slot !== undefined) p.recorder.recordStatus(slot, status);
  }

  /** A failed attempt (request path). */
  recordError(pool: string, member: string, kind: UpstreamErrorKind): void {
    const p = this.pools.get(pool);
    if (p === undefined) return;
    const slot = p.slots.get(member);
    if (slot === undefined) return;
    // connect/reset/timeout keep their breakdown; any other kind (an upstream 5xx that was retried) is a plain failure.
    if (kind === "connect" || kind === "reset" || kind === "timeout") p.recorder.recordError(slot, kind);
    else p.recorder.recordFailure(slot);
  }

  /** Everything recorded since the last drain, all pools. */
  drain(): OutcomeBatch {
    const entries: OutcomeCounts[] = [];
    for (const p of this.pools.values()) {
      const b = p.recorder.drain();
      for (const e of b.entries) entries.push(e);
    }
    return { entries };
  }
}
