// The data plane's hooks in cluster mode: everything the metrics observer does, plus the
// breaker outcomes (a failed attempt, or the final response of a served request). A response
// shardgate produced itself (errorCode set) was already counted attempt by attempt, and a
// client that went away (499, or downstream_disconnected after the member's head was relayed)
// says nothing about the member: neither outcome is recorded. A request served by a second
// member after a retry has no errorCode: the first member's failure was counted when it
// failed, the serving member's success is counted here. A 502/503/504 discarded for a
// gateway-error retry never reaches onUpstreamError or onRequestEnd, so it is counted at the
// retry, classified by the pool's breaker statuses like any other response.
// The record's memberSlot is its current attempt's member; the recorders check it against
// the member id they are given (a failed member that is not the current one falls back).

import type { UpstreamErrorKind } from "../../health/outcome-recorder.js";
import type { NotOwnerCounter } from "../edge/edge-metrics.js";
import type { DataPlaneHooks, NotOwnerReason, RequestRecord, RetryKind } from "../forward/types.js";
import type { MetricsObserver } from "../metrics/observer.js";
import type { OutcomeRecorders } from "./outcome-recorders.js";

export class ClusterHooks implements DataPlaneHooks {
  constructor(
    private readonly observer: MetricsObserver,
    private readonly outcomes: OutcomeRecorders,
    private readonly notOwner: NotOwnerCounter | null = null,
  ) {}

  onNotOwner(r: RequestRecord, reason: NotOwnerReason): void {
    this.notOwner?.inc(r.pool, reason);
  }

  onRequestStart(r: RequestRecord): void {
    this.observer.onRequestStart(r);
  }

  onRetry(
    r: RequestRecord,
    failedMember: string,
    kind: RetryKind,
    _nextMember: string,
    failedStatus?: number,
  ): void {
    this.observer.onRetry(r);
    if (kind === "gateway" && failedStatus !== undefined)
      this.outcomes.recordStatus(r.pool, failedMember, failedStatus, r.memberSlot);
  }

  onUpstreamError(r: RequestRecord, pool: string, member: string, kind: UpstreamErrorKind): void {
    this.observer.onUpstreamError(r, pool, member, kind);
    this.outcomes.recordError(pool, member, kind, r.memberSlot);
  }

  onLocalExhausted(code: string): void {
    this.observer.onLocalExhausted(code);
  }

  onRequestEnd(r: RequestRecord): void {
    // A 101 is the member answering (the probe of a half-open member succeeded too).
    if (r.member !== "" && r.errorCode === "" && r.status !== 499 && r.attempts > 0)
      this.outcomes.recordStatus(r.pool, r.member, r.status, r.memberSlot);
    this.observer.onRequestEnd(r);
  }
}
