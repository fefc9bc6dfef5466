// Data-plane hooks that add tracing around another set of hooks (metrics, breaker outcomes).
// Per request: a SERVER span from request start to end (child of the caller's W3C
// traceparent when one came in), and per upstream attempt a CLIENT child span whose context
// replaces the request's traceparent (tracestate carried along) before it is forwarded, so
// the upstream continues the trace under that attempt. Attributes: route, pool, key hash,
// member, ring version, attempt number, retry reason. Only installed when tracing is enabled:
// with tracing off the data plane sees the plain hooks and pays nothing.

import type { IncomingHttpHeaders } from "node:http";
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { UpstreamErrorKind } from "../../health/outcome-recorder.js";
import type { DataPlaneHooks, RequestRecord, RetryKind } from "../forward/types.js";
import { semconvMethod, spanNameMethod } from "./span-method.js";

const propagator = new W3CTraceContextPropagator();

interface RequestTrace {
  server: Span;
  parent: Context;
  attempt: Span | null;
  /** Why the next attempt is made (the failed attempt's kind), "" for the first. */
  retryReason: string;
}

function epochMs(monotonic: number): number {
  return performance.timeOrigin + monotonic;
}

/** The request's trace, hung on the record itself (RequestRecord.traceState), not in a Map. */
function traceOf(r: RequestRecord): RequestTrace | undefined {
  return (r.traceState as RequestTrace | null) ?? undefined;
}

export class TracingHooks implements DataPlaneHooks {
  constructor(
    private readonly inner: DataPlaneHooks,
    private readonly tracer: Tracer,
  ) {}

  onRequestStart(r: RequestRecord): void {
    this.inner.onRequestStart?.(r);
  }

  /** Starts the attempt's span (and the request's, on the first) and writes its traceparent into the forwarded headers. */
  onAttempt(r: RequestRecord, headers: IncomingHttpHeaders): void {
    let t = traceOf(r);
    if (t === undefined) {
      const incoming = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      const server = this.tracer.startSpan(
        `${spanNameMethod(r.method)} ${r.pool || "proxy"}`,
        { kind: SpanKind.SERVER, startTime: epochMs(r.startedAt) },
        incoming,
      );
      t = { server, parent: trace.setSpan(incoming, server), attempt: null, retryReason: "" };
      r.traceState = t;
    }
    t.attempt?.end();
    const attempt = this.tracer.startSpan(
      `attempt ${r.attempts} ${r.member}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "shardgate.route": r.route,
          "shardgate.pool": r.pool,
          "shardgate.key_hash": r.keyHash,
          "shardgate.member": r.member,
          "shardgate.ring_version": r.ringVersion,
          "shardgate.attempt": r.attempts,
          ...(t.retryReason === "" ? {} : { "shardgate.retry_reason": t.retryReason }),
        },
      },
      t.parent,
    );
    t.attempt = attempt;
    // Replace whatever traceparent/tracestate came in: the upstream's parent is this attempt.
    delete headers.traceparent;
    delete headers.tracestate;
    propagator.inject(trace.setSpan(t.parent, attempt), headers, defaultTextMapSetter);
  }

  onRetry(
    r: RequestRecord,
    failedMember: string,
    kind: RetryKind,
    nextMember: string,
    failedStatus?: number,
  ): void {
    this.inner.onRetry?.(r, failedMember, kind, nextMember, failedStatus);
    const t = traceOf(r);
    if (t === undefined) return;
    const reason = kind === "gateway" && failedStatus !== undefined ? `gateway_${failedStatus}` : kind;
    t.retryReason = reason;
    if (t.attempt !== null) {
      t.attempt.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      if (failedStatus !== undefined) t.attempt.setAttribute("http.response.status_code", failedStatus);
      t.attempt.end();
      t.attempt = null;
    }
  }

  onUpstreamError(r: RequestRecord, pool: string, member: string, kind: UpstreamErrorKind): void {
    this.inner.onUpstreamError?.(r, pool, member, kind);
    const a = traceOf(r)?.attempt;
    if (a != null) {
      a.setAttribute("shardgate.upstream_error", kind);
      a.setStatus({ code: SpanStatusCode.ERROR, message: kind });
    }
  }

  onLocalExhausted(code: string): void {
    this.inner.onLocalExhausted?.(code);
  }

  onLocalSkip(pool: string, member: string, untilMs: number): void {
    this.inner.onLocalSkip?.(pool, member, untilMs);
  }

  onRequestEnd(r: RequestRecord): void {
    const t = traceOf(r);
    if (t !== undefined) {
      r.traceState = null;
      if (t.attempt !== null) {
        t.attempt.setAttribute("http.response.status_code", r.status);
        t.attempt.end();
      }
      const s = t.server;
      const method = semconvMethod(r.method);
      if (method !== r.method) s.setAttribute("http.request.method_original", r.method);
      s.setAttributes({
        "http.request.method": method,
        "http.response.status_code": r.status,
        "shardgate.route": r.route,
        "shardgate.pool": r.pool,
        "shardgate.key_hash": r.keyHash,
        "shardgate.member": r.member,
        "shardgate.ring_version": r.ringVersion,
        "shardgate.attempts": r.attempts,
        "shardgate.request_id": r.requestId,
      });
      if (r.errorCode !== "" || r.status >= 500)
        s.setStatus({ code: SpanStatusCode.ERROR, message: r.errorCode || String(r.status) });
      s.end(epochMs(r.startedAt + r.durationMs));
    }
    this.inner.onRequestEnd(r);
  }
}
