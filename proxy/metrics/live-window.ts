// Per-member request counters (also the source of the per-member latency histogram, see
// member-histogram.ts) and live per-member figures for the dashboard (request rate, error rate, p50/p99 over the last
// ~10 s) at no cost when nobody watches: the request path bumps plain counters (LiveCounts,
// one per member, preallocated), and the window is only sampled when someone reads it, at
// most once per SAMPLE_MS; rates come from the difference with the oldest sample in the window.

import { DURATION_BUCKETS } from "./registry.js";

const SAMPLE_MS = 500;
const WINDOW_MS = 10_000;

/** Cumulative counts of one member, updated on the request path. */
export class LiveCounts {
  count = 0;
  errors = 0;
  /** Seconds, summed (the histogram's _sum). */
  sum = 0;
  /**
   * Cumulative-by-bucket is computed when read; here one slot per bucket plus +Inf. A plain
   * array of small integers, not a Float64Array: 128 bytes of typed array live outside the
   * heap with a tracking record the GC sweeps, one per member with traffic (thousands in a
   * big pool), where an array is two ordinary heap objects.
   */
  readonly buckets: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);

  record(seconds: number, error: boolean): void {
    this.count++;
    this.sum += seconds;
    if (error) this.errors++;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    this.buckets[i]++;
  }
}

interface Sample {
  at: number;
  count: number;
  errors: number;
  buckets: number[];
}

export interface LiveFigures {
  rate: number;
  errorRate: number;
  p50: number | null;
  p99: number | null;
}

/** Upper bound (ms) of the bucket holding quantile q of `delta`, interpolated linearly inside it. */
function quantileMs(delta: Float64Array, total: number, q: number): number | null {
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < delta.length; i++) {
    if (seen + delta[i] >= rank && delta[i] > 0) {
      const lo = i === 0 ? 0 : DURATION_BUCKETS[i - 1];
      const hi =
        i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i] : DURATION_BUCKETS[DURATION_BUCKETS.length - 1];
      const within = (rank - seen) / delta[i];
      return Math.round((lo + (hi - lo) * within) * 1e6) / 1e3;
    }
    seen += delta[i];
  }
  return null;
}

/** The sampled history of one member's LiveCounts. */
export class LiveWindow {
  private readonly samples: Sample[] = [];

  constructor(private readonly counts: LiveCounts) {}

  /** Samples (if due) and returns the figures over the window; zeros until two samples exist. */
  read(now: number): LiveFigures {
    const last = this.samples[this.samples.length - 1];
    if (last === undefined || now - last.at >= SAMPLE_MS) {
      this.samples.push({
        at: now,
        count: this.counts.count,
        errors: this.counts.errors,
        buckets: this.counts.buckets.slice(),
      });
    }
    while (this.samples.length > 2 && now - this.samples[1].at >= WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const newest = this.samples[this.samples.length - 1];
    const seconds = (newest.at - first.at) / 1000;
    const n = newest.count - first.count;
    if (seconds <= 0 || n <= 0) return { rate: 0, errorRate: 0, p50: null, p99: null };
    const delta = new Float64Array(newest.buckets.length);
    for (let i = 0; i < delta.length; i++) delta[i] = newest.buckets[i] - first.buckets[i];
    return {
      rate: Math.round((n / seconds) * 100) / 100,
      errorRate: Math.round(((newest.errors - first.errors) / n) * 1e4) / 1e4,
      p50: quantileMs(delta, n, 0.5),
      p99: quantileMs(delta, n, 0.99),
    };
  }
}
