// Failed discovery requests (a Consul blocking query, a Kubernetes list or watch) per pool and
// source, as shardgate_discovery_errors_total. Before it a dead Consul agent or API server
// showed only in a warn line at the start of a streak and in /admin/state; nothing an alert
// could count. Process-wide, as the watchers' DNS figures are (dns-metrics.ts); only the Raft
// leader runs watchers, so only its series rise. Read at scrape time.

import type { Registry } from "prom-client";
import { registerScrapeMetric, type ScrapeSample } from "./scrape-metric.js";

export class DiscoveryErrorCounts {
  /** "source\npool" -> failed requests. */
  private readonly counts = new Map<string, number>();

  count(pool: string, source: string): void {
    const key = `${source}\n${pool}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  *samples(): Iterable<ScrapeSample> {
    for (const [key, value] of this.counts) {
      const cut = key.indexOf("\n");
      yield { labels: { pool: key.slice(cut + 1), source: key.slice(0, cut) }, value };
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
}
