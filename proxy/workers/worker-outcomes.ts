// The primary's outcome tracker when workers serve the requests: the cluster node drains it
// every ~100 ms as it drains a single process's tracker, and gets what every worker recorded
// since, merged into one entry per member, so the leader's breaker controller sees this
// instance as one observer (as it does with one process) and not N partial ones.

import type { OutcomeBatch, OutcomeCounts } from "../../health/outcome-recorder.js";
import { OutcomeRecorders } from "../cluster/outcome-recorders.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Batches from several observers of the same members, as one: counts add up, runs take the longest. */
export function mergeOutcomeBatches(batches: readonly OutcomeBatch[]): OutcomeBatch {
  const byMember = new Map<string, Mutable<OutcomeCounts>>();
  for (const b of batches) {
    for (const e of b.entries) {
      const key = `${e.pool}\u0000${e.member}`;
      const m = byMember.get(key);
      if (m === undefined) {
        byMember.set(key, { ...e });
        continue;
      }
      m.success += e.success;
      m.failure += e.failure;
      m.connectErrors += e.connectErrors;
      m.resets += e.resets;
      m.timeouts += e.timeouts;
      m.consecutive = Math.max(m.consecutive, e.consecutive);
      m.maxConsecutive = Math.max(m.maxConsecutive, e.maxConsecutive);
    }
  }
  return { entries: [...byMember.values()] };
}

export class WorkerOutcomes extends OutcomeRecorders {
  private pending: OutcomeBatch[] = [];

  /** A batch a worker drained from its own tracker. */
  add(batch: OutcomeBatch): void {
    // A primary whose node stopped draining must not grow without bound: keep the newest.
    if (this.pending.length >= 1_024) this.pending.shift();
    this.pending.push(batch);
  }

  override drain(): OutcomeBatch {
    const own = super.drain();
    if (this.pending.length === 0) return own;
    const all = this.pending;
    this.pending = [];
    if (own.entries.length > 0) all.push(own);
    return all.length === 1 ? all[0] : mergeOutcomeBatches(all);
  }
}
