// The half-open probe budget with `workers: N`. Each worker admits probes on its own (the
// admission is synchronous on the request path: asking the primary would add an IPC round
// trip to every probe), so each gets a fixed part of every member's budget and the parts add
// up to the pool's `breaker.halfOpenProbes`, never N times it: base = floor(limit / N) each,
// and the remaining limit % N probes go to that many workers, chosen per member by a hash of
// its id so the extra probes of different members land on different workers. When the budget
// is smaller than N, some workers hold no probe of a member: they route its keys to the next
// member until its breaker closes, as they would route around an open breaker.

import type { ProbeBudgetShare } from "../cluster/outcome-recorders.js";

export class ProbeShare implements ProbeBudgetShare {
  constructor(
    private readonly worker: number,
    private readonly workers: number,
  ) {}

  of(limit: number, memberKey: number): number {
    const n = this.workers;
    if (n <= 1) return limit;
    const base = Math.floor(limit / n);
    return (memberKey + this.worker) % n < limit % n ? base + 1 : base;
  }
}
