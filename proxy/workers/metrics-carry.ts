// Keeps the instance's summed counters from going backwards when a worker restarts or misses a
// scrape. The primary's /metrics sums every worker's registry; a restarted worker starts from
// zero, so the totals dropped (2 workers, 200 requests: 106 + 94 became 47 + 53 after one was
// killed), which Prometheus reads as a counter reset and turns into a false burst of increase.
// Envoy keeps its counters across a hot restart in shared memory for the same reason; HAProxy's
// counters restart at zero on reload. Here each worker's last answered registry is remembered;
// when its process is gone, its counters and histograms (never its gauges) are folded into a
// "departed" part summed into every later scrape, and a live worker that misses a scrape is
// counted with its last counters. So a total never falls below what a scrape showed before;
// what a dead worker served after the last scrape that reached it is not counted.

import { AggregatorRegistry, type Registry } from "prom-client";

/** One metric of a registry as prom-client's JSON (getMetricsAsJSON). */
type MetricJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>[number];

/** One worker's answer to a metrics request. */
export interface WorkerMetrics {
  pid: number;
  json: MetricJson[];
}

/** Whether a carried series of `metric` still names something that exists (its pool, member, route). */
export type SeriesKeep = (
  labels: Readonly<Partial<Record<string, string | number>>>,
  metric: string,
) => boolean;

/** `json` without the series `keep` refuses (a new array only for a metric that loses some). */
function kept(json: readonly MetricJson[], keep: SeriesKeep): MetricJson[] {
  return json.map((m) => {
    const values = m.values.filter((v) => keep(v.labels, m.name));
    return values.length === m.values.length ? m : ({ ...m, values } as MetricJson);
  });
}

/** Counters and histograms only: the monotonic series, which sum across processes over time. */
function monotonic(json: readonly MetricJson[]): MetricJson[] {
  return json.filter((m) => String(m.type) === "counter" || String(m.type) === "histogram");
}

export class MetricsCarry {
  /** Each worker process's last answered registry, by pid. */
  private readonly last = new Map<number, MetricJson[]>();
  /** The counters of workers that are gone, summed into one registry's JSON. */
  private departed: MetricJson[] = [];

  /**
   * The parts to sum for one scrape: `answered` as given, the last counters of a live worker
   * (`livePids`) that did not answer, and the departed workers' counters.
   */
  async parts(
    answered: readonly WorkerMetrics[],
    livePids: ReadonlySet<number>,
    keep: SeriesKeep = () => true,
  ): Promise<MetricJson[][]> {
    for (const a of answered) this.last.set(a.pid, a.json);
    const gone: MetricJson[][] = [];
    for (const [pid, json] of this.last) {
      if (livePids.has(pid)) continue;
      gone.push(monotonic(json));
      this.last.delete(pid);
    }
    if (gone.length > 0) {
      const all = this.departed.length === 0 ? gone : [this.departed, ...gone];
      this.departed = await AggregatorRegistry.aggregate(
        all as Parameters<typeof AggregatorRegistry.aggregate>[0],
      ).getMetricsAsJSON();
    }
    // Carried series of members, pools and routes that are gone since go (a reload removed
    // them, as the workers' own series went): else every member current when a worker died
    // was exported for the life of the primary.
    if (this.departed.length > 0) this.departed = kept(this.departed, keep);
    // Every worker still in `last` is live: its answer now, or its last counters when it missed
    // this scrape. (One that answered and died before the scrape ended is in `departed` only.)
    const answeredNow = new Map(answered.map((a) => [a.pid, a.json]));
    const out: MetricJson[][] = [];
    for (const [pid, json] of this.last) out.push(answeredNow.get(pid) ?? kept(monotonic(json), keep));
    if (this.departed.length > 0) out.push(this.departed);
    return out;
  }
}
