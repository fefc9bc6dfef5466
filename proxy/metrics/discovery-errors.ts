// Failed discovery requests (a Consul blocking query, a Kubernetes list or watch) per pool and
// source, as shardgate_discovery_errors_total, and the times a source made its watcher start
// over (Consul's index went backwards, a watch got 410 Gone, a list's continue token expired)
// as shardgate_discovery_resyncs_total{pool,source,reason}. Before it a dead Consul agent or API server
// showed only in a warn line at the start of a streak and in /admin/state; nothing an alert
// could count. Process-wide, as the watchers' DNS figures are (dns-metrics.ts); only the Raft
// leader runs watchers, so only its series rise. Read at scrape time.
// shardgate_discovery_consecutive_errors{pool,source} is each running watch's streak: failed
// requests since its last good answer. A counter cannot tell a source down for 5 minutes
// from one failure healed at once when the failures are slow (a hung agent fails once per
// `wait` + 10 s); this gauge stays above 0 until a good answer, which is what an alert on
// "errors and no success" needs (k8s/grafana/alerts.yaml, ShardgateDiscoveryFailing).

import type { Registry } from "prom-client";
import { registerScrapeMetric, type ScrapeSample } from "./scrape-metric.js";

/** What the gauge reads of a running watch (the membership controller's status, by pool). */
export type WatchStreaks = () => Record<
  string,
  { readonly source: string; readonly watcher?: { readonly consecutiveErrors: number } }
>;

export class DiscoveryErrorCounts {
  /** The watches this process runs now; none until the process wires its membership controller. */
  private streaks: WatchStreaks = () => ({});
  /** "source\npool" -> failed requests. */
  private readonly counts = new Map<string, number>();
  /** "source\npool\nreason" -> resyncs. */
  private readonly resyncCounts = new Map<string, number>();

  count(pool: string, source: string): void {
    const key = `${source}\n${pool}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  resync(pool: string, source: string, reason: string): void {
    const key = `${source}\n${pool}\n${reason}`;
    this.resyncCounts.set(key, (this.resyncCounts.get(key) ?? 0) + 1);
  }

  /** Forgets the counts of pools not in `pools` (a reload removed them): their series go too. */
  retainPools(pools: Readonly<Record<string, unknown>>): void {
    for (const m of [this.counts, this.resyncCounts])
      for (const key of m.keys()) if (!Object.hasOwn(pools, key.split("\n")[1])) m.delete(key);
  }

  /** Reads the running watches' streaks from `streaks` from now on (the process's one cluster node). */
  watchStreaks(streaks: WatchStreaks): void {
    this.streaks = streaks;
  }

  *streakSamples(): Iterable<ScrapeSample> {
    const all = this.streaks();
    for (const pool in all) {
      const w = all[pool].watcher;
      if (w !== undefined) yield { labels: { pool, source: all[pool].source }, value: w.consecutiveErrors };
    }
  }

  *samples(): Iterable<ScrapeSample> {
    for (const [key, value] of this.counts) {
      const [source, pool] = key.split("\n");
      yield { labels: { pool, source }, value };
    }
  }

  *resyncSamples(): Iterable<ScrapeSample> {
    for (const [key, value] of this.resyncCounts) {
      const [source, pool, reason] = key.split("\n");
      yield { labels: { pool, source, reason }, value };
    }
  }
}

/** The process's counts: the controllers of every cluster node of the process add here. */
export const discoveryErrors = new DiscoveryErrorCounts();

export function registerDiscoveryErrorMetric(registry: Registry, counts: DiscoveryErrorCounts): void {
  registerScrapeMetric(
    registry,
    "shardgate_discovery_errors_total",
    "Failed discovery requests (Consul health queries, Kubernetes EndpointSlice lists and watches) by pool and source; only the Raft leader watches.",
    "counter",
    () => counts.samples(),
  );
  registerScrapeMetric(
    registry,
    "shardgate_discovery_resyncs_total",
    "Times a discovery source made its watcher start over, by pool, source and reason: index_reset (Consul's X-Consul-Index went backwards), gone (a Kubernetes watch answered 410 Gone: re-listed), expired_continue (a list's continue token expired).",
    "counter",
    () => counts.resyncSamples(),
  );
  registerScrapeMetric(
    registry,
    "shardgate_discovery_consecutive_errors",
    "Failed discovery requests since the watch's last good answer, by pool and source (0 while it goes well); only where the watch runs (the Raft leader).",
    "gauge",
    () => counts.streakSamples(),
  );
}
