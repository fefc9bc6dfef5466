// /metrics rendered in slices and written as it is ready. prom-client's registry.metrics()
// builds every sample object, then one string of the whole exposition, in one go: at 10,000
// members with traffic that was ~115,000 lines (9 MB) and held the event loop for 1.5-3 s, so
// every request in flight waited for the scrape. Here the big scrape-time families (series
// read from plain counters: requests, member flags, latency histograms) are formatted one
// sample at a time; after a few milliseconds of work the text so far is written to the
// response and the loop is given back (setImmediate) before the next slice. Small prom-client
// metrics (errors, process, ring gauges) are formatted by prom-client itself. The bytes are the
// same as registry.metrics() (test/ops/metrics-stream.test.ts compares them).

import type { Registry } from "prom-client";

/** One sample of a scrape-time family: `metricName` defaults to the family's name. */
export interface StreamSample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A registry entry whose samples can be walked one at a time (scrape-metric.ts, member-histogram.ts). */
export interface SampledMetric {
  name: string;
  help: string;
  type: string;
  samples(): Iterable<StreamSample>;
  /**
   * The same samples already formatted, each line preceded by "\n", any number of lines per
   * string (preferred over samples(): no object per sample).
   */
  blocks?(): Iterable<string>;
}

/** Where the text goes: write() returns false when the receiver is full (wait for drain()). */
export interface ExpositionSink {
  write(chunk: string): boolean;
  drain(): Promise<void>;
  /** True once the receiver is gone (client disconnected): rendering stops. */
  closed(): boolean;
}

export interface SliceOptions {
  /** Longest run of formatting before the loop is given back, in ms. */
  sliceMs?: number;
  /** Text buffered before it is written even inside a slice, in UTF-16 units. */
  chunkChars?: number;
}

const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
// The clock is read every CHECK_EVERY samples, not on each one (a read costs ~50 ns).
const CHECK_EVERY = 128;

/** Whether streamExposition renders `registry` exactly as registry.metrics() would. */
export function canStream(registry: Registry): boolean {
  // OpenMetrics renames counters and ends with # EOF; default labels are merged into every
  // sample. shardgate uses neither; a registry that does is left to prom-client.
  const defaults = (registry as unknown as { _defaultLabels?: object })._defaultLabels ?? {};
  return registry.contentType === PROMETHEUS_TEXT && Object.keys(defaults).length === 0;
}

const yieldLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Writes `registry`'s text exposition to `sink`, never formatting for more than `sliceMs`
 * without giving the event loop back. Resolves when everything is written (or the sink closed).
 */
export async function streamExposition(
  registry: Registry,
  sink: ExpositionSink,
  opts: SliceOptions = {},
): Promise<void> {
  const sliceMs = opts.sliceMs ?? 4;
  const chunkChars = opts.chunkChars ?? 64 * 1024;
  const asString = registry as unknown as { getMetricsAsString(m: unknown): Promise<string> };
  let buf = "";
  let sliceStart = performance.now();
  // Writes the buffered text; gives the loop back when the slice is used up or the sink is full.
  const flush = async (force: boolean): Promise<void> => {
    const due = performance.now() - sliceStart >= sliceMs;
    if (!force && !due && buf.length < chunkChars) return;
    const ok = buf.length === 0 || sink.write(buf);
    buf = "";
    if (!ok) await sink.drain();
    if (due || force) {
      await yieldLoop();
      sliceStart = performance.now();
    }
  };
  let first = true;
  for (const metric of registry.getMetricsAsArray() as unknown[]) {
    if (sink.closed()) return;
    if (!first) buf += "\n\n";
    first = false;
    const sampled = metric as Partial<SampledMetric>;
    if (typeof sampled.samples !== "function") {
      buf += await asString.getMetricsAsString(metric);
      await flush(false);
      continue;
    }
    const name = escapeText(sampled.name as string);
    buf += `# HELP ${name} ${escapeText(sampled.help as string)}\n# TYPE ${name} ${sampled.type}`;
    let n = 0;
    if (typeof sampled.blocks === "function") {
      for (const text of sampled.blocks()) {
        buf += text;
        if (++n % (CHECK_EVERY >> 4) === 0) {
          await flush(false);
          if (sink.closed()) return;
        }
      }
      continue;
    }
    for (const s of sampled.samples()) {
      buf += `\n${sampleLine(s.metricName ?? name, s.labels, s.value)}`;
      if (++n % CHECK_EVERY === 0) {
        await flush(false);
        if (sink.closed()) return;
      }
    }
  }
  buf += "\n";
  await flush(true);
}

/** One exposition line, formatted as prom-client formats it (label order as given). */
export function sampleLine(name: string, labels: Record<string, string | number>, value: number): string {
  const text = labelText(labels);
  return text === "" ? `${name} ${valueText(value)}` : `${name}{${text}} ${valueText(value)}`;
}

/** `a="x",b="y"` as prom-client writes a label set (values escaped, order as given). */
export function labelText(labels: Record<string, string | number>): string {
  let text = "";
  let sep = "";
  for (const key in labels) {
    const v = labels[key];
    text += `${sep}${key}="${typeof v === "string" && NEEDS_ESCAPE.test(v) ? escapeText(v).replace(/"/g, '\\"') : v}"`;
    sep = ",";
  }
  return text;
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** A sample value as prom-client writes it. */
export function valueText(v: number): string {
  if (Number.isNaN(v)) return "Nan";
  if (!Number.isFinite(v)) return v < 0 ? "-Inf" : "+Inf";
  return `${v}`;
}

function escapeText(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
