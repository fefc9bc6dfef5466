// Live per-member counters of one pool (in-flight requests, local "refused until" skips),
// kept beside the immutable snapshot because they change on every request. When a new
// snapshot of the pool is applied, counts carry over by member id; a request that started
// on an older snapshot releases against the current one (looked up by id), so the counts
// stay right across swaps.
//
// passUntil folds the snapshot's eligibility mask into the skip deadlines, so the request
// path's owner check reads one per-member array, not two: at 1,000 members each was a cache
// line of its own per request (at 3 members both stay cached). It is refilled whenever the
// snapshot changes (a pass over a typed array per change, ~5,000 numbers at 5,000 members).
//
// In-flight counts are kept only while the pool has bounded load, their one reader: a pool
// without it (the default) touches no per-member count when a request starts and ends (at
// 1,000 members a cache line on each). A change that turns bounded load on starts the counts
// from zero and a new count epoch: acquire hands the request its epoch, and a release counts
// only under the epoch its acquire did. A request taken before the change raised no count of
// this epoch, so its release lowers none (it would otherwise lower a newer request's count,
// and bounded load would let that member take more than its cap until both requests ended).

import type { RetryBudget } from "../forward/retry-budget.js";
import type { PoolLiveView, PoolSnapshot } from "./types.js";

export class PoolLive implements PoolLiveView {
  snapshot: PoolSnapshot;
  inFlight: Int32Array;
  totalInFlight = 0;
  /** Whether acquire/release count (the snapshot has bounded load). */
  private counting: boolean;
  /** The stretch of counting (1, 2, ...: one per time bounded load was turned on) counts belong to. */
  private epoch: number;
  skipUntil: Float64Array;
  passUntil: Float64Array;
  /**
   * The pool's retry budget, kept here (made by the data plane on first use) so a request
   * reaches it through the PoolLive it already holds, not a lookup by pool name; it lives as
   * long as the pool, across its snapshots, as the counts do.
   */
  retryBudget: RetryBudget | null = null;

  constructor(snapshot: PoolSnapshot) {
    this.snapshot = snapshot;
    this.counting = snapshot.bounded !== null;
    this.epoch = this.counting ? 1 : 0;
    this.inFlight = new Int32Array(snapshot.members.length);
    this.skipUntil = new Float64Array(snapshot.members.length);
    this.passUntil = new Float64Array(snapshot.members.length);
    this.refillPass();
  }

  /** passUntil from the current snapshot's mask and skipUntil. */
  private refillPass(): void {
    const eligible = this.snapshot.eligible;
    const skip = this.skipUntil;
    const pass = this.passUntil;
    for (let i = 0; i < pass.length; i++) pass[i] = eligible[i] === 1 ? skip[i] : Number.POSITIVE_INFINITY;
  }

  /** Moves to a newer snapshot of the same pool, carrying counters over by member id. */
  rebase(next: PoolSnapshot): void {
    if (next === this.snapshot) return;
    const prev = this.snapshot;
    // The same id index means the same ids at the same indices (a flag-only update shares
    // it): the counters stay where they are; only passUntil follows the new flags.
    if (next.byId === prev.byId && next.members.length === this.inFlight.length) {
      this.snapshot = next;
      this.refillPass();
      this.countFor(next);
      return;
    }
    const inFlight = new Int32Array(next.members.length);
    const skipUntil = new Float64Array(next.members.length);
    let total = 0;
    for (let i = 0; i < prev.members.length; i++) {
      const j = next.byId.get(prev.members[i].id);
      if (j === undefined) continue;
      inFlight[j] = this.inFlight[i];
      skipUntil[j] = this.skipUntil[i];
      total += this.inFlight[i];
    }
    this.snapshot = next;
    this.inFlight = inFlight;
    this.skipUntil = skipUntil;
    this.totalInFlight = total;
    this.passUntil = new Float64Array(next.members.length);
    this.refillPass();
    this.countFor(next);
  }

  /** Counts from zero when `next` turns bounded load on; stops counting when it turns it off. */
  private countFor(next: PoolSnapshot): void {
    const counting = next.bounded !== null;
    if (counting && !this.counting) {
      this.inFlight.fill(0);
      this.totalInFlight = 0;
      this.epoch++;
    }
    this.counting = counting;
  }

  /** Index of `memberId` in the current snapshot, or -1. */
  indexOf(memberId: string, hintSnapshot: PoolSnapshot, hintIndex: number): number {
    if (hintSnapshot === this.snapshot) return hintIndex;
    return this.snapshot.byId.get(memberId) ?? -1;
  }

  /**
   * Takes one in-flight slot on (`snapshot`, `index`) for `memberId` (while the pool has bounded
   * load). A retry walks the request's original snapshot, so its index is mapped like release()'s.
   * Returns the count epoch to release under, 0 when nothing was counted.
   */
  acquire(memberId: string, snapshot: PoolSnapshot, index: number): number {
    if (!this.counting) return 0;
    const i = this.indexOf(memberId, snapshot, index);
    if (i < 0) return 0;
    this.inFlight[i]++;
    this.totalInFlight++;
    return this.epoch;
  }

  /** Releases one in-flight request taken on (`snapshot`, `index`) for `memberId` under `epoch` (acquire's). */
  release(memberId: string, snapshot: PoolSnapshot, index: number, epoch: number): void {
    if (!this.counting || epoch !== this.epoch) return;
    const i = this.indexOf(memberId, snapshot, index);
    if (i >= 0 && this.inFlight[i] > 0) {
      this.inFlight[i]--;
      if (this.totalInFlight > 0) this.totalInFlight--;
    }
  }

  skip(memberId: string, snapshot: PoolSnapshot, index: number, until: number): void {
    const i = this.indexOf(memberId, snapshot, index);
    if (i >= 0 && this.skipUntil[i] < until) {
      this.skipUntil[i] = until;
      // An ineligible member's +Infinity stays.
      if (this.passUntil[i] < until) this.passUntil[i] = until;
    }
  }
}

/** The PoolLive of every pool by name; `for(snapshot)` rebases on first sight of a new snapshot. */
export class LiveBook {
  private readonly pools = new Map<string, PoolLive>();
  /** The snapshot for() was last given and its PoolLive: most requests go to the pool the last one did. */
  private lastSnapshot: PoolSnapshot | null = null;
  private lastLive: PoolLive | null = null;

  for(snapshot: PoolSnapshot): PoolLive {
    if (snapshot === this.lastSnapshot) return this.lastLive as PoolLive;
    let live = this.pools.get(snapshot.name);
    if (live === undefined) {
      live = new PoolLive(snapshot);
      this.pools.set(snapshot.name, live);
    } else if (live.snapshot !== snapshot) {
      // Callers only pass snapshots from the current state, so a different one is newer
      // (ring versions are not compared: a reload may legitimately restart them).
      live.rebase(snapshot);
    }
    this.lastSnapshot = snapshot;
    this.lastLive = live;
    return live;
  }

  /** Forgets pools that no longer exist. */
  retain(names: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const name of this.pools.keys()) if (!names.has(name)) this.pools.delete(name);
    this.lastSnapshot = null;
    this.lastLive = null;
  }
}
