// shardgate_member_request_duration_seconds: the per-member latency histogram, exported from
// the plain per-member counters the request path already bumps (LiveColumns rows) and assembled
// only when /metrics is scraped. A prom-client Histogram child hashes its label set on every
// observe(); at two label values per member that was most of the observer's per-request cost,
// so this histogram is a registry entry of its own instead (same text format, same buckets).

import type { Registry } from "prom-client";
import { labelText, valueText } from "./exposition-stream.js";
import type { CountsView } from "./live-window.js";

export interface MemberCounts {
  pool: string;
  member: string;
  counts: CountsView;
}

interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** One labelled series of a counts-backed histogram. */
export interface LabelledCounts {
  labels: Record<string, string>;
  counts: CountsView;
}

/**
 * Registers a histogram named `name` on `registry` whose series are read from `source()` at
 * scrape time: plain counters the request path bumps (CountsView), no prom-client child (whose
 * observe() hashes its label set every call). Same text format and buckets as prom-client's.
 */
export function registerCountsHistogram(
  registry: Registry,
  name: string,
  help: string,
  buckets: readonly number[],
  source: () => Iterable<LabelledCounts>,
): void {
  const bucketName = `${name}_bucket`;
  const sumName = `${name}_sum`;
  const countName = `${name}_count`;
  function* samples(): IterableIterator<Sample> {
    for (const { labels, counts } of source()) {
      let cumulative = 0;
      for (let i = 0; i < buckets.length; i++) {
        cumulative += counts.buckets[i];
        yield { metricName: bucketName, labels: { le: buckets[i], ...labels }, value: cumulative };
      }
      cumulative += counts.buckets[buckets.length];
      yield { metricName: bucketName, labels: { le: "+Inf", ...labels }, value: cumulative };
      yield { metricName: sumName, labels, value: counts.sum };
      yield { metricName: countName, labels, value: counts.count };
    }
  }
  const leText = buckets.map((b) => `${b}`);
  // The sliced /metrics reads a series' 18 lines as one string: no sample object, no label
  // object per line (at 10,000 members those were ~180,000 of each per scrape, most of its
  // GC), and a series is never split across slices, so its +Inf bucket always equals _count.
  function* blocks(): IterableIterator<string> {
    for (const { labels, counts } of source()) {
      const rest = labelText(labels);
      const tail = rest === "" ? "}" : `,${rest}}`;
      const plain = rest === "" ? "" : `{${rest}}`;
      let text = "";
      let cumulative = 0;
      for (let i = 0; i < buckets.length; i++) {
        cumulative += counts.buckets[i];
        text += `\n${bucketName}{le="${leText[i]}"${tail} ${valueText(cumulative)}`;
      }
      cumulative += counts.buckets[buckets.length];
      text += `\n${bucketName}{le="+Inf"${tail} ${valueText(cumulative)}`;
      text += `\n${sumName}${plain} ${valueText(counts.sum)}\n${countName}${plain} ${valueText(counts.count)}`;
      yield text;
    }
  }
  const metric = {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    reset(): void {},
    // Walked one sample at a time by the sliced /metrics (exposition-stream.ts).
    samples,
    blocks,
    async get() {
      return { name, help, type: "histogram", values: [...samples()], aggregator: "sum" };
    },
  };
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}

/** Registers the per-member histogram on `registry`, reading `source()` and `buckets` at scrape time. */
export function registerMemberHistogram(
  registry: Registry,
  name: string,
  help: string,
  buckets: readonly number[],
  source: () => Iterable<MemberCounts>,
): void {
  registerCountsHistogram(registry, name, help, buckets, function* () {
    for (const { pool, member, counts } of source()) yield { labels: { pool, member }, counts };
  });
}
