// The data plane's observer: turns request lifecycle events into metric increments and an
// access-log line. Everything here runs on the request path, so it only looks up cached
// children (SeriesCache) and increments them: no label objects, no closures per request.

import type { DataPlaneHooks, RequestRecord, UpstreamErrorKind } from "../forward/types.js";
import type { AccessLog } from "../logging/access-log.js";
import { codeClassIndex } from "./registry.js";
import type { SeriesCache } from "./series-cache.js";

export class MetricsObserver implements DataPlaneHooks {
  constructor(
    private readonly series: SeriesCache,
    private readonly accessLog: AccessLog,
  ) {}

  onRequestStart(r: RequestRecord): void {
    this.series.pool(r.pool).inFlight.inc();
  }

  onRetry(r: RequestRecord, _failedMember: string, _kind: UpstreamErrorKind, _nextMember: string): void {
    this.series.pool(r.pool).retries.inc();
  }

  onUpstreamError(_r: RequestRecord, pool: string, member: string, kind: UpstreamErrorKind): void {
    const m = this.series.pool(pool).member(member);
    m.upstreamErrors(kind).inc();
    if (kind === "connect") m.connectErrors().inc();
  }

  onRequestEnd(r: RequestRecord): void {
    const ps = this.series.pool(r.pool);
    ps.inFlight.dec();
    ps.duration.observe(r.durationMs / 1000);
    ps.member(r.member)
      .requests(r.route === "" ? "none" : r.route)
      [codeClassIndex(r.status)].inc();
    this.accessLog.write(r);
  }
}
