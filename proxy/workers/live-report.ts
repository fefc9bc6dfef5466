// A worker's share of the dashboard's live figures (`workers: N`): the primary serves no
// request, so its own per-member counters stay at zero. Each beat, a worker reports what its
// per-member counters (metrics/live-window.ts, read as CountsView) gained since its last report, only
// for members that served since then, plus its per-member in-flight counts. Deltas rather
// than totals, so a restarted worker (counters back at zero) needs no special case upstairs.

import type { CountsView } from "../metrics/live-window.js";
import type { SeriesCache } from "../metrics/series-cache.js";
import type { LiveDelta, MemberInFlight } from "./messages.js";

/** Slot 0 count, 1 errors, 2 sum, then the buckets. */
const HEAD = 3;

export class LiveReporter {
  /** What each member's counters held at the last report; dropped with the counters. */
  private readonly sent = new WeakMap<CountsView, Float64Array>();

  constructor(private readonly series: SeriesCache) {}

  /** The gains since the last call (empty when nothing was served meanwhile). */
  deltas(): LiveDelta[] {
    const out: LiveDelta[] = [];
    for (const { pool, member, counts } of this.series.memberCounts()) {
      let last = this.sent.get(counts);
      if (last === undefined) {
        last = new Float64Array(HEAD + counts.buckets.length);
        this.sent.set(counts, last);
      }
      if (counts.count === last[0]) continue;
      // Sparse (index, gain) pairs: a member's requests between two beats fill few buckets.
      const buckets: number[] = [];
      for (let i = 0; i < counts.buckets.length; i++) {
        const d = counts.buckets[i] - last[HEAD + i];
        if (d === 0) continue;
        buckets.push(i, d);
        last[HEAD + i] = counts.buckets[i];
      }
      out.push([
        pool,
        member,
        counts.count - last[0],
        counts.errors - last[1],
        counts.sum - last[2],
        buckets,
      ]);
      last[0] = counts.count;
      last[1] = counts.errors;
      last[2] = counts.sum;
    }
    return out;
  }
}

/** The observer's in-flight map as a flat list for the beat (members with none are absent). */
export function inFlightList(byMember: Map<string, Map<string, number>>): MemberInFlight[] {
  const out: MemberInFlight[] = [];
  for (const [pool, members] of byMember) for (const [member, n] of members) out.push([pool, member, n]);
  return out;
}
