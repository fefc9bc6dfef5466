// Failed discovery requests (a Consul blocking query, a Kubernetes list or watch) per pool and
// source, as shardgate_discovery_errors_total, and the times a source made its watcher start
// over (Consul's index went backwards, a watch got 410 Gone, a list's continue token expired)
// as shardgate_discovery_resyncs_total{pool,source,reason}. Before it a dead Consul agent or API server
// showed only in a warn line at the start of a streak and in /admin/state; nothing an alert
// could count. Process-wide, as the watchers' DNS figures are (dns-metrics.ts); only the Raft
// leader runs watchers, so only its series rise. Read at scrape time.

import type { Registry } from "prom-client";
import { registerScrapeMetric, type ScrapeSample } from "./scrape-metric.js";

export class DiscoveryErrorCounts {
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
}
