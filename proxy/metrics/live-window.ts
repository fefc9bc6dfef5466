// Per-member request counters (also the source of the per-member latency histogram, see
// member-histogram.ts) and live per-member figures for the dashboard (request rate, error rate, p50/p99 over the last
// ~10 s) at no cost when nobody watches: the request path bumps plain counters, and the window
// is only sampled when someone reads it, at most once per SAMPLE_MS; rates come from the
// difference with the oldest sample in the window.
//
// A pool's members keep their counters side by side in one Float64Array (LiveColumns, a row
// per member that served): an object, a boxed sum and a buckets array per member were three
// scattered cache misses per request at 10,000 members (`npm run bench -- scale-slot`).
// Readers (scrape, dashboard, workers' reports) read a row through a LiveRow.

import { CODE_CLASSES, DURATION_BUCKETS } from "./registry.js";

const SAMPLE_MS = 500;
const WINDOW_MS = 10_000;

/** What the readers of a member's or a pool's counters read (at scrape / dashboard time). */
export interface CountsView {
  readonly count: number;
  readonly errors: number;
  /** Seconds, summed (the histogram's _sum). */
  readonly sum: number;
  /** One count per bucket plus +Inf (not cumulative). */
  readonly buckets: ArrayLike<number>;
}

/** Cumulative counts of one pool (or one member, as the workers' primary sums them). */
export class LiveCounts implements CountsView {
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

  /** `bucket`: bucketIndex(seconds), when the caller has it already (one walk of the bounds per request). */
  record(seconds: number, error: boolean, bucket = bucketIndex(seconds)): void {
    this.count++;
    this.sum += seconds;
    if (error) this.errors++;
    this.buckets[bucket]++;
  }
}

/** The index of the latency bucket `seconds` falls in (DURATION_BUCKETS.length: +Inf). */
export function bucketIndex(seconds: number): number {
  let i = 0;
  while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
  return i;
}

// A row: count, errors, sum, the request counts of the member's first route by code class
// (series-cache.ts: one route in most pools; in the row, a request touches no other object
// of the member's), then one count per bucket plus +Inf.
const COUNT = 0;
const ERRORS = 1;
const SUM = 2;
const CLASSES = 3;
const HEAD = CLASSES + CODE_CLASSES.length;
const BUCKETS = DURATION_BUCKETS.length + 1;
const STRIDE = HEAD + BUCKETS;

/**
 * The counters of a pool's members, one row of STRIDE numbers per member, in one Float64Array
 * (grown by doubling). A row is taken when a member first serves and given back (zeroed) when
 * it leaves; a freed row is handed to the next member that needs one, starting at zero.
 */
export class LiveColumns {
  private data = new Float64Array(16 * STRIDE);
  private rows = 0;
  private readonly free: number[] = [];

  /** A zeroed row. */
  take(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const row = this.rows++;
    if ((row + 1) * STRIDE > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    return row;
  }

  /** Zeroes `row` and makes it available to the next take(). */
  give(row: number): void {
    this.data.fill(0, row * STRIDE, row * STRIDE + STRIDE);
    this.free.push(row);
  }

  /** Request path: one finished request on `row`. */
  record(row: number, seconds: number, error: boolean, bucket = bucketIndex(seconds)): void {
    const d = this.data;
    const o = row * STRIDE;
    d[o + COUNT]++;
    d[o + SUM] += seconds;
    if (error) d[o + ERRORS]++;
    d[o + HEAD + bucket]++;
  }

  /** Request path: one request of code class `cls` (codeClassIndex) on the row's first route. */
  countClass(row: number, cls: number): void {
    this.data[row * STRIDE + CLASSES + cls]++;
  }

  /** The first route's counts by code class of `row`: a view (valid until the next growth). */
  classesOf(row: number): Float64Array {
    const o = row * STRIDE + CLASSES;
    return this.data.subarray(o, o + CODE_CLASSES.length);
  }

  /** Field `field` of `row` (COUNT, ERRORS, SUM). */
  at(row: number, field: number): number {
    return this.data[row * STRIDE + field];
  }

  /** The buckets of `row`: a view into the current array (valid until the next growth). */
  bucketsOf(row: number): Float64Array {
    const o = row * STRIDE + HEAD;
    return this.data.subarray(o, o + BUCKETS);
  }

  /** The current array's buffer (a LiveRow's cached view is valid while this is the same). */
  get buffer(): ArrayBufferLike {
    return this.data.buffer;
  }

  /** Rows in use (tests, memory checks). */
  get size(): number {
    return this.rows - this.free.length;
  }
}

/** A reader's view of one row of LiveColumns (fixed to the row: one per member). */
export class LiveRow implements CountsView {
  private view: Float64Array | null = null;
  constructor(
    private readonly cols: LiveColumns,
    readonly row: number,
  ) {}
  get count(): number {
    return this.cols.at(this.row, COUNT);
  }
  get errors(): number {
    return this.cols.at(this.row, ERRORS);
  }
  get sum(): number {
    return this.cols.at(this.row, SUM);
  }
  get buckets(): Float64Array {
    // Cached while the columns keep their array (a grown array is a new buffer).
    const v = this.view;
    if (v !== null && v.buffer === this.cols.buffer) return v;
    this.view = this.cols.bucketsOf(this.row);
    return this.view;
  }
}

interface Sample {
  at: number;
  count: number;
  errors: number;
  buckets: Float64Array;
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

  constructor(private readonly counts: CountsView) {}

  /**
   * Samples (if due) and returns the figures over the window; zeros until two samples exist.
   * A window whose newest sample is older than WINDOW_MS starts over: measured from that
   * sample, the figures would be the average since it was taken (minutes, for a member on a
   * dashboard page nobody showed meanwhile), not the last ~10 s.
   */
  read(now: number): LiveFigures {
    if (this.samples.length > 0 && now - this.samples[this.samples.length - 1].at >= WINDOW_MS)
      this.samples.length = 0;
    const last = this.samples[this.samples.length - 1];
    if (last === undefined || now - last.at >= SAMPLE_MS) {
      this.samples.push({
        at: now,
        count: this.counts.count,
        errors: this.counts.errors,
        buckets: Float64Array.from(this.counts.buckets),
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
