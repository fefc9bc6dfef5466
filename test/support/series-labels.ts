// The label values of a Prometheus text exposition, for leak checks after churn: which
// `pool`, `member`, `route` or `peer` values have any series at all. The samples are read by
// prom-samples.ts (the exposition format's escapes \\, \", \n honoured, so a value holding a
// comma or a quote does not split into two).

import { parsePromSamples } from "./prom-samples.js";

/** "metric{label=value}" for every sample whose `label` is one of `values` (for a failure message). */
export function seriesWith(text: string, label: string, values: ReadonlySet<string>): string[] {
  const hits: string[] = [];
  for (const s of parsePromSamples(text)) {
    const v = s.labels[label];
    if (v !== undefined && values.has(v)) hits.push(`${s.name}{${label}="${v}"}`);
  }
  return [...new Set(hits)].sort();
}

/** The distinct values `label` takes across all series. */
export function labelValues(text: string, label: string): Set<string> {
  const out = new Set<string>();
  for (const s of parsePromSamples(text)) {
    const v = s.labels[label];
    if (v !== undefined) out.add(v);
  }
  return out;
}
