// The primary's live figures with `workers: N` (GET /admin/live and the dashboard): every
// worker's per-member gains (live-report.ts) summed into one LiveCounts per member, windowed
// as a single process's counters are (metrics/live-window.ts), so rates, error rates and
// quantiles speak for the whole instance; in-flight is the sum of the workers' last beats.
// The members listed are the primary's own (its series follow the committed state).

import type { LiveView, MemberLiveView } from "../admin/ops-types.js";
import { LiveCounts, LiveWindow } from "../metrics/live-window.js";
import type { SeriesCache } from "../metrics/series-cache.js";
import type { LiveDelta, MemberInFlight } from "./messages.js";

interface Summed {
  counts: LiveCounts;
  window: LiveWindow;
}

/** The committed pools' members (each list sorted by id, as the cluster state keeps them). */
type CommittedPools = Readonly<Record<string, { readonly members: readonly { readonly id: string }[] }>>;

/** Whether `members` (ascending by id, code-point order) has `id`: no Set per applied entry. */
function hasMember(members: readonly { readonly id: string }[], id: string): boolean {
  let lo = 0;
  let hi = members.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (members[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < members.length && members[lo].id === id;
}

export class LiveAggregate {
  /** pool -> member -> summed counters (members that served through some worker). */
  private readonly byPool = new Map<string, Map<string, Summed>>();
  /** worker index -> its last reported in-flight list. */
  private readonly inFlight = new Map<number, MemberInFlight[]>();
  /** The committed pools last applied (null before the first): who may have figures. */
  private committed: CommittedPools | null = null;

  /**
   * The committed state changed: members and pools that are gone lose their figures now, not
   * at the next read of /admin/live (unread, every member that ever served stayed).
   */
  retain(pools: CommittedPools): void {
    this.committed = pools;
    for (const [name, members] of this.byPool) {
      const p = Object.hasOwn(pools, name) ? pools[name] : undefined;
      if (p === undefined) this.byPool.delete(name);
      else for (const id of members.keys()) if (!hasMember(p.members, id)) members.delete(id);
    }
  }

  /** One worker's beat. */
  add(worker: number, deltas: readonly LiveDelta[], inFlight: MemberInFlight[]): void {
    const committed = this.committed;
    for (const [pool, member, count, errors, sum, buckets] of deltas) {
      // A late beat for a member that left (served before the worker applied its removal).
      if (
        committed !== null &&
        this.byPool.get(pool)?.has(member) !== true &&
        !(Object.hasOwn(committed, pool) && hasMember(committed[pool].members, member))
      )
        continue;
      const c = this.summed(pool, member).counts;
      c.count += count;
      c.errors += errors;
      c.sum += sum;
      for (let i = 0; i + 1 < buckets.length; i += 2) {
        const b = buckets[i];
        if (b >= 0 && b < c.buckets.length) c.buckets[b] += buckets[i + 1];
      }
    }
    this.inFlight.set(worker, inFlight);
  }

  private summed(pool: string, member: string): Summed {
    let members = this.byPool.get(pool);
    if (members === undefined) {
      members = new Map();
      this.byPool.set(pool, members);
    }
    let s = members.get(member);
    if (s === undefined) {
      const counts = new LiveCounts();
      s = { counts, window: new LiveWindow(counts) };
      members.set(member, s);
    }
    return s;
  }

  /** A worker exited: its requests are no longer in flight (its served counts stay counted). */
  gone(worker: number): void {
    this.inFlight.delete(worker);
  }

  /** The instance's live view over the primary's current pools and members. */
  view(series: SeriesCache): LiveView {
    const now = performance.now();
    const inFlight = new Map<string, number>();
    for (const list of this.inFlight.values())
      for (const [pool, member, n] of list) {
        const k = `${pool}\u0000${member}`;
        inFlight.set(k, (inFlight.get(k) ?? 0) + n);
      }
    const pools: LiveView["pools"] = {};
    for (const name of series.poolNames()) {
      const out: Record<string, MemberLiveView> = {};
      // Every listed member gets its window now (as a single process's members have theirs
      // from the start): this read is the baseline the next one measures a rate from.
      for (const id of series.pool(name).members.keys())
        out[id] = {
          inFlight: inFlight.get(`${name}\u0000${id}`) ?? 0,
          ...this.summed(name, id).window.read(now),
        };
      pools[name] = out;
      // Members that left the pool take their counters with them.
      const summed = this.byPool.get(name);
      if (summed !== undefined && summed.size > Object.keys(out).length)
        for (const id of summed.keys()) if (out[id] === undefined) summed.delete(id);
    }
    for (const name of this.byPool.keys()) if (pools[name] === undefined) this.byPool.delete(name);
    return { windowSeconds: 10, pools };
  }
}
