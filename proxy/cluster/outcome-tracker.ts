// Request outcomes for the fleet's circuit breakers, on this instance: one OutcomeRecorder
// per (pool, member), found through two Map lookups on the request path (an index and an
// increment after that). Every ~100 ms the cluster node drains the batch and delivers it to
// the leader's breaker controller. Also the per-instance probe budget of half-open members.
//
// When a member's committed breaker state changes, its recorder is replaced by a fresh one:
// counts from before the decision must not reach the leader after it. In particular a
// failure run this instance carried across the opening (it stopped routing to the member, so
// no success ended the run) would otherwise be reported again as maxConsecutive with the
// first success after the breaker closed, and re-trip it. The fresh recorder also starts with
// a full probe budget.

import type { ClusterStateData } from "../../config/cluster-state-types.js";
import { type OutcomeBatch, type OutcomeCounts, OutcomeRecorder } from "../../health/outcome-recorder.js";
import type { UpstreamErrorKind } from "../forward/types.js";
import type { PoolSnapshot, ProbeGate } from "../routing/types.js";

/** Every recorder holds one member, so its slot is always this one. */
const SLOT = 0;

interface MemberOutcomes {
  recorder: OutcomeRecorder;
  /** Committed breaker state the recorder was created under. */
  breaker: string;
}

interface PoolOutcomes {
  readonly statusesKey: string;
  readonly statuses: readonly number[];
  readonly members: Map<string, MemberOutcomes>;
  probeLimit: number;
}

function freshRecorder(pool: string, member: string, statuses: readonly number[]): OutcomeRecorder {
  const r = new OutcomeRecorder({ failureStatuses: statuses });
  r.slot(pool, member);
  return r;
}

class RecorderGate implements ProbeGate {
  constructor(
    private readonly members: readonly MemberOutcomes[],
    private readonly limit: number,
  ) {}
  admit(index: number): boolean {
    return this.members[index]?.recorder.admitProbe(SLOT, this.limit) === true;
  }
  // A release after the member's breaker state changed lands on the fresh recorder (whose
  // count starts at 0 and never goes below it): at worst one extra probe in that phase.
  release(index: number): void {
    this.members[index]?.recorder.releaseProbe(SLOT);
  }
  available(index: number): boolean {
    return this.members[index]?.recorder.probeAvailable(SLOT, this.limit) === true;
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
        p = { statusesKey: key, statuses: [...statuses], members: new Map(), probeLimit: 0 };
        this.pools.set(name, p);
      }
      p.probeLimit = pool.settings.breaker.halfOpenProbes;
      const present = new Set<string>();
      for (const m of pool.members) {
        present.add(m.id);
        const cur = p.members.get(m.id);
        if (cur === undefined) {
          p.members.set(m.id, { recorder: freshRecorder(name, m.id, p.statuses), breaker: m.breaker.state });
        } else if (cur.breaker !== m.breaker.state) {
          // Swapped in place: probe gates of existing snapshots hold the MemberOutcomes object.
          cur.recorder = freshRecorder(name, m.id, p.statuses);
          cur.breaker = m.breaker.state;
        }
      }
      for (const id of [...p.members.keys()]) if (!present.has(id)) p.members.delete(id);
    }
  }

  /** The probe gate of a freshly built snapshot (members in table order). */
  gateFor(snapshot: PoolSnapshot): ProbeGate | null {
    const p = this.pools.get(snapshot.name);
    if (p === undefined) return null;
    const byIndex: MemberOutcomes[] = new Array(snapshot.members.length);
    for (const m of snapshot.members) {
      let mo = p.members.get(m.id);
      if (mo === undefined) {
        mo = { recorder: freshRecorder(snapshot.name, m.id, p.statuses), breaker: "closed" };
        p.members.set(m.id, mo);
      }
      byIndex[m.index] = mo;
    }
    return new RecorderGate(byIndex, p.probeLimit);
  }

  /** A finished response from `member` (request path). */
  recordStatus(pool: string, member: string, status: number): void {
    this.pools.get(pool)?.members.get(member)?.recorder.recordStatus(SLOT, status);
  }

  /** A failed attempt (request path). */
  recordError(pool: string, member: string, kind: UpstreamErrorKind): void {
    const m = this.pools.get(pool)?.members.get(member);
    if (m === undefined) return;
    // connect/reset/timeout keep their breakdown; any other kind (an upstream 5xx that was retried) is a plain failure.
    if (kind === "connect" || kind === "reset" || kind === "timeout") m.recorder.recordError(SLOT, kind);
    else m.recorder.recordFailure(SLOT);
  }

  /** Everything recorded since the last drain, all pools. */
  drain(): OutcomeBatch {
    const entries: OutcomeCounts[] = [];
    for (const p of this.pools.values()) {
      for (const m of p.members.values()) {
        const b = m.recorder.drain();
        if (b.entries.length > 0) entries.push(b.entries[0]);
      }
    }
    return { entries };
  }
}
