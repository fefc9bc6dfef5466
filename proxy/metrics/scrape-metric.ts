// A counter or gauge whose samples are read from plain numbers when /metrics is scraped,
// with no prom-client child per label set. A child holds a labels object, a bound inc() with
// its bound-arguments array and a hash-map entry keyed by a string built from the labels: at
// 10,000 members that was over 30 heap objects per member for the request counters and the
// flag gauges, all of them marked on every major GC. The request path adds to a number in an
// array it already holds; the series cache knows which series exist and yields them here.

import type { Registry } from "prom-client";

export interface ScrapeSample {
  labels: Record<string, string>;
  value: number;
}

/** Registers `name` on `registry`; its samples are whatever `source()` yields at scrape time. */
export function registerScrapeMetric(
  registry: Registry,
  name: string,
  help: string,
  type: "counter" | "gauge",
  source: () => Iterable<ScrapeSample>,
): void {
  const metric = {
    name,
    help,
    type,
    aggregator: "sum",
    reset(): void {},
    // Walked one sample at a time by the sliced /metrics (exposition-stream.ts).
    samples: source,
    async get() {
      const values: Array<{ labels: Record<string, string>; value: number }> = [];
      for (const s of source()) values.push({ labels: s.labels, value: s.value });
      return { name, help, type, values, aggregator: "sum" };
    },
  };
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}
