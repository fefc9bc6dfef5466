// What became of the finished spans once their requests were done: exported, refused or timed
// out by the collector (failed), or dropped because the batch queue was full (a collector that
// hangs or answers 503 while traffic goes on). The OpenTelemetry SDK reports all of this only
// through its `diag` logger, which shardgate does not install: without this file a dead
// collector was silent and spans vanished uncounted. Counted in shardgate_tracing_spans_total
// {result} and logged as one warn line when spans start to be lost, repeated with the counts
// at most once a minute while it lasts (also across recoveries), and one info line when an
// export succeeds after a warn line.
//
// Failures are seen by wrapping the exporter (the error's own text names the status or the
// timeout); drops happen inside the BatchSpanProcessor, which reports them to the meter
// provider passed as `selfObsMeterProvider`: a no-op meter whose one processed-spans counter
// is ours.

import { type Attributes, createNoopMeter, type Meter, type MeterProvider } from "@opentelemetry/api";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import { Counter, type Registry } from "prom-client";
import type { LogSink } from "../../config/log-sink.js";

const REPEAT_MS = 60_000;
/** The SDK's processed-spans counter and the error type it gives a span the full queue refused. */
const PROCESSED = "otel.sdk.processor.span.processed";
const QUEUE_FULL = "queue_full";

type Result = "exported" | "failed" | "dropped";

export class SpanExportStats {
  /** One child per result, bound once: a drop is counted on the request path (span end). */
  private readonly spans: Record<Result, { inc(n: number): void }>;
  /** Spans lost (failed + dropped) since the last warn line. */
  private lostFailed = 0;
  private lostDropped = 0;
  private lastError = "";
  private lastLog = Number.NEGATIVE_INFINITY;
  private warned = false;

  constructor(
    registry: Registry,
    private readonly log: LogSink,
    private readonly now: () => number = () => performance.now(),
  ) {
    const counter = new Counter({
      name: "shardgate_tracing_spans_total",
      help: "Finished spans by what became of them: exported, failed (the collector refused or did not answer the export), dropped (the export queue was full).",
      labelNames: ["result"],
      registers: [registry],
    });
    // Every series exists from the start, so a rate() sees the first loss.
    this.spans = {
      exported: counter.labels({ result: "exported" }),
      failed: counter.labels({ result: "failed" }),
      dropped: counter.labels({ result: "dropped" }),
    };
    for (const c of Object.values(this.spans)) c.inc(0);
  }

  /** The exporter the batch processor should call: `inner`, with each batch's outcome counted. */
  wrap(inner: SpanExporter): SpanExporter {
    return {
      export: (spans: ReadableSpan[], done: (r: ExportResult) => void) => {
        inner.export(spans, (r) => {
          if (r.code === ExportResultCode.SUCCESS) this.count("exported", spans.length);
          else this.count("failed", spans.length, r.error?.message ?? "export failed");
          done(r);
        });
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    };
  }

  /** For BatchSpanProcessor's `selfObsMeterProvider`: hears of the spans the full queue refused. */
  meterProvider(): MeterProvider {
    const noop = createNoopMeter();
    const meter: Meter = Object.create(noop);
    const processed = {
      add: (n: number, attrs?: Attributes) => {
        if (attrs?.["error.type"] === QUEUE_FULL) this.count("dropped", n);
      },
    };
    meter.createCounter = ((name: string, options?: object) =>
      name === PROCESSED ? processed : noop.createCounter(name, options)) as Meter["createCounter"];
    return { getMeter: () => meter };
  }

  private count(result: Result, n: number, err?: string): void {
    this.spans[result].inc(n);
    if (result === "exported") {
      if (!this.warned) return;
      // The minute between warn lines holds across recoveries: a collector failing every
      // other export gives a warn and an info line a minute, not two lines per export.
      this.warned = false;
      this.log.info({}, "tracing: the collector takes spans again");
      return;
    }
    if (result === "failed") {
      this.lostFailed += n;
      this.lastError = err ?? this.lastError;
    } else this.lostDropped += n;
    const t = this.now();
    if (t - this.lastLog < REPEAT_MS) return;
    this.lastLog = t;
    this.warned = true;
    this.log.warn(
      { failed: this.lostFailed, dropped: this.lostDropped, err: this.lastError || undefined },
      "tracing: spans not exported (collector failing or slow); requests are not affected",
    );
    this.lostFailed = 0;
    this.lostDropped = 0;
  }
}
