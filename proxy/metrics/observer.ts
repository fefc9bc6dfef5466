// The data plane's observer: turns request lifecycle events into metric increments and an
// access-log line. Everything here runs on the request path, so it only looks up cached
// children (SeriesCache) and increments them: no label objects, no closures per request.

import type { UpstreamErrorKind } from "../../health/outcome-recorder.js";
import { OpenRequests } from "../forward/open-requests.js";
import { type DataPlaneHooks, DOWNSTREAM_DISCONNECTED, type RequestRecord } from "../forward/types.js";
import type { AccessLog } from "../logging/access-log.js";
import { bucketIndex } from "./live-window.js";
import { codeClassIndex } from "./registry.js";
import { NO_ROUTE, type SeriesCache } from "./series-cache.js";

/**
 * Ends that say nothing of the member, neither a failure nor a latency sample: the client left
 * mid-answer or was cut for not reading it, the client's own gRPC deadline passed, or the call
 * waited behind the member's stream limit and was never sent to it, or this instance had no
 * descriptor or local port left to reach the member (health/local-exhaustion.ts), or this
 * instance's own shutdown cut it at the drain deadline.
 */
function notTheMembers(code: string): boolean {
  return (
    code === DOWNSTREAM_DISCONNECTED ||
    code === "client_send_timeout" ||
    code === "deadline_exceeded" ||
    code === "upstream_stream_limit" ||
    code === "client_share_exceeded" ||
    code === "local_resource_exhausted" ||
    code === "shutting_down"
  );
}

export class MetricsObserver implements DataPlaneHooks {
  constructor(
    private readonly series: SeriesCache,
    private accessLog: AccessLog,
  ) {}

  /** Swaps the access log (reload toggles log.accessLog); takes effect from the next request end. */
  setAccessLog(accessLog: AccessLog): void {
    this.accessLog = accessLog;
  }

  /** Requests between start and end. The data plane calls onRequestStart before route matching, so the pool is read at scrape time. */
  private readonly open = new OpenRequests<RequestRecord>();

  /** In-flight requests by pool label, for the in-flight gauge (called on scrape, not per request). */
  inFlightByPool(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.open) {
      const pool = r.pool === "" ? NO_ROUTE : r.pool;
      out.set(pool, (out.get(pool) ?? 0) + 1);
    }
    return out;
  }

  /**
   * In-flight requests by pool and member (those that have a member yet), on scrape / dashboard
   * read. `asLabelled`: a member a reload removed is counted as "removed", the label its
   * finished requests get in requests_total (the gauge then has no series of a member gone).
   */
  inFlightByMember(asLabelled = false): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const r of this.open) {
      if (r.pool === "" || r.member === "") continue;
      let m = out.get(r.pool);
      if (m === undefined) {
        m = new Map();
        out.set(r.pool, m);
      }
      const member = asLabelled ? this.series.pool(r.pool).member(r.member).member : r.member;
      m.set(member, (m.get(member) ?? 0) + 1);
    }
    return out;
  }

  onRequestStart(r: RequestRecord): void {
    this.open.add(r);
  }

  /** Counts a retry; which member failed and why is counted by onUpstreamError (and the breaker). */
  onRetry(r: RequestRecord): void {
    this.series.pool(r.pool).retries.inc();
  }

  /** Where this instance's own shortages go (proxy/app/descriptor-limits.ts); unset: only counted. */
  localLimits: { note(op: string, code: string): void } | null = null;

  onLocalExhausted(code: string): void {
    if (this.localLimits !== null) this.localLimits.note("upstream_connect", code);
    else this.series.metrics.localExhausted.inc({ op: "upstream_connect" });
  }

  onUpstreamError(r: RequestRecord, pool: string, member: string, kind: UpstreamErrorKind): void {
    // The record's slot is its current attempt's member, which is `member` (memberAt checks).
    const m = this.series.pool(pool).memberAt(r.memberSlot, member);
    m.upstreamErrors(kind).inc();
    if (kind === "connect") m.connectErrors().inc();
  }

  onRequestEnd(r: RequestRecord): void {
    this.open.delete(r);
    const ps = this.series.pool(r.pool);
    const seconds = r.durationMs / 1000;
    // One walk of the bucket bounds serves the pool's histogram and the member's.
    const bucket = bucketIndex(seconds);
    ps.duration.observe(seconds, bucket);
    const cls = codeClassIndex(r.status);
    // A client that left mid-answer (the member had answered), or was cut for not reading it
    // (client_send_timeout), is neither the member's failure nor a latency sample (its duration
    // is cut short): Envoy's outlier detection does not count downstream resets either. Both
    // were failures in the member's live error ratio, as were a call's own gRPC deadline and a
    // call never sent for the member's stream limit (notTheMembers).
    const serve = r.member !== "" && !notTheMembers(r.errorCode);
    // By slot, not by id: a Map of 10,000 member ids misses the caches on every request.
    ps.finished(
      r.memberSlot,
      r.member,
      r.route === "" ? "none" : r.route,
      cls,
      serve,
      seconds,
      cls === 4 || r.errorCode !== "",
      bucket,
    );
    if (r.member === "" && r.errorCode === "grpc_needs_h2_pool") ps.grpcRefused.inc();
    // The listener counts the clients it refused or timed out; this one left mid-answer.
    if (r.errorCode === DOWNSTREAM_DISCONNECTED)
      this.series.metrics.clientErrors.inc({ code: DOWNSTREAM_DISCONNECTED });
    // A client past its share of a member (listen.maxUpstreamPerClient): refused, never sent.
    else if (r.errorCode === "client_share_exceeded")
      this.series.metrics.clientErrors.inc({ code: "client_share_exceeded" });
    // A rate-limit key sent two ways (proxy/routing/key-ambiguity.ts): refused, never sent.
    else if (r.errorCode === "ambiguous_key") this.series.metrics.clientErrors.inc({ code: "ambiguous_key" });

    this.accessLog.write(r);
  }
}
