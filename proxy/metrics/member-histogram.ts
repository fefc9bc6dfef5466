// shardgate_member_request_duration_seconds: the per-member latency histogram, exported from
// the plain per-member counters the request path already bumps (LiveCounts) and assembled
// only when /metrics is scraped. A prom-client Histogram child hashes its label set on every
// observe(); at two label values per member that was most of the observer's per-request cost,
// so this histogram is a registry entry of its own instead (same text format, same buckets).

import type { Registry } from "prom-client";
import type { LiveCounts } from "./live-window.js";

export interface MemberCounts {
  pool: string;
  member: string;
  counts: LiveCounts;
}

interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** Registers the histogram on `registry`, reading `source()` and `buckets` at scrape time. */
export function registerMemberHistogram(
  registry: Registry,
  name: string,
  help: string,
  buckets: readonly number[],
  source: () => Iterable<MemberCounts>,
): void {
  const metric = {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    reset(): void {},
    async get() {
      const values: Sample[] = [];
      for (const { pool, member, counts } of source()) {
        let cumulative = 0;
        for (let i = 0; i < buckets.length; i++) {
          cumulative += counts.buckets[i];
          values.push({
            metricName: `${name}_bucket`,
            labels: { le: buckets[i], pool, member },
            value: cumulative,
          });
        }
        cumulative += counts.buckets[buckets.length];
        values.push({
          metricName: `${name}_bucket`,
          labels: { le: "+Inf", pool, member },
          value: cumulative,
        });
        values.push({ metricName: `${name}_sum`, labels: { pool, member }, value: counts.sum });
        values.push({ metricName: `${name}_count`, labels: { pool, member }, value: counts.count });
      }
      return { name, help, type: "histogram", values, aggregator: "sum" };
    },
  };
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}
