// Tracing setup: off unless `tracing.enabled` is set. When on, an OpenTelemetry tracer
// provider of its own (not registered globally, so two apps in one process do not share it)
// batches spans to the OTLP/HTTP endpoint, sampling parent-based with `sampleRatio` for new
// traces. The SDK is imported only when enabled, so a proxy without tracing never loads it.
// The collector's hostname resolves through the bounded upstream lookup
// (proxy/net/bounded-lookup.ts), not getaddrinfo: a DNS server that hangs for it must not hold
// libuv's threads or the process's exit (test/outside/dns-dependencies.test.ts).

import type { LookupFunction } from "node:net";
import type { Registry } from "prom-client";
import type { LogSink } from "../../config/log-sink.js";
import type { DataPlaneHooks } from "../forward/types.js";
import { upstreamLookup } from "../net/bounded-lookup.js";

export interface TracingSettings {
  enabled: boolean;
  /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  otlpEndpoint: string;
  serviceName: string;
  /** Share of new traces (no incoming sampled flag) that are recorded, 0..1. */
  sampleRatio: number;
}

export interface Tracing {
  /** The hooks the data plane should use (`inner` itself when tracing is off). */
  wrap(inner: DataPlaneHooks): DataPlaneHooks;
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { wrap: (inner) => inner, shutdown: async () => {} };

/**
 * `registry` gets shardgate_tracing_spans_total and `log` the lines about spans not exported
 * (span-export-stats.ts); both only when tracing is on.
 */
export async function startTracing(
  s: TracingSettings,
  instance: string,
  registry: Registry,
  log: LogSink,
): Promise<Tracing> {
  if (!s.enabled) return OFF;
  const [
    { TracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler },
    { OTLPTraceExporter },
    { resourceFromAttributes },
    { TracingHooks },
    { SpanExportStats },
  ] = await Promise.all([
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("./tracing-hooks.js"),
    import("./span-export-stats.js"),
  ]);
  const stats = new SpanExportStats(registry, log);
  const { SHARDGATE_VERSION } = await import("../metrics/version.js");
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      "service.name": s.serviceName,
      "service.version": SHARDGATE_VERSION,
      "service.instance.id": instance,
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: stats.wrap(
          new OTLPTraceExporter({
            url: s.otlpEndpoint,
            // The SDK's own agent options (keep-alive) plus the lookup.
            httpAgentOptions: { keepAlive: true, lookup: upstreamLookup.lookup as LookupFunction },
          }),
        ),
        scheduledDelayMillis: 1_000,
        selfObsMeterProvider: stats.meterProvider(),
      }),
    ],
  });
  const tracer = provider.getTracer("shardgate", SHARDGATE_VERSION);
  return {
    wrap: (inner) => new TracingHooks(inner, tracer),
    shutdown: () => boundedShutdown(provider.shutdown(), log),
  };
}

/**
 * The last spans get this long to reach the collector at a stop. The SDK's own flush waits up
 * to its 10 s export timeout on a collector that does not answer: every stop took 10 s more,
 * and past the stop's 5 s close allowance it ended in "shutdown did not finish ... exiting 1".
 */
export const SHUTDOWN_FLUSH_MS = 2_000;

async function boundedShutdown(flushed: Promise<void>, log: LogSink): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), SHUTDOWN_FLUSH_MS);
    timer.unref();
  });
  const outcome = await Promise.race([flushed.then(() => "done" as const), late]).finally(() =>
    clearTimeout(timer),
  );
  if (outcome === "late")
    log.warn(
      { waitedMs: SHUTDOWN_FLUSH_MS },
      "tracing: the collector did not take the last spans at stop; stopping without them",
    );
}
