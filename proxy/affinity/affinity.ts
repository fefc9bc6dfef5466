// The contract both affinities (cookie, store) implement for the edge route, and the check
// they share: may a remembered member take this request?

import type { AffinitySource, EdgeState } from "../edge/edge-state.js";
import type { RequestContext } from "../forward/request-context.js";
import { isRoutable } from "../routing/member-choice.js";
import type { PoolLiveView, PoolSnapshot } from "../routing/types.js";
import type { DrainClock } from "./drain-clock.js";

export interface AffinityExplanation {
  member: string | null;
  source: AffinitySource;
  /** Why a remembered member was not honoured, when one was. */
  note?: string;
}

export interface Affinity {
  /**
   * Sets ctx.preferred when a remembered member may take the request. Returns undefined when
   * decided synchronously, else a promise that never rejects.
   */
  choose(ctx: RequestContext, st: EdgeState): Promise<void> | undefined;
  /** The answered response's head (headers editable). */
  onResponse(
    ctx: RequestContext,
    st: EdgeState,
    headers: Record<string, string | string[] | undefined>,
  ): void;
  /** GET /admin/route: what this affinity would do for `key` (or `cookie`) now. */
  explain(snapshot: PoolSnapshot, key: string, cookie: string): Promise<AffinityExplanation>;
}

/**
 * Whether member `index` may take a remembered session now: routable (eligible and not
 * refused locally), or draining but still within the drain deadline.
 */
export function mayServeSession(
  snapshot: PoolSnapshot,
  index: number,
  ctxLive: PoolLiveView | null,
  now: number,
  drains: DrainClock,
  drainDeadlineMs: number,
): boolean {
  if (isRoutable(snapshot, index, ctxLive, now)) return true;
  if (ctxLive !== null && ctxLive.snapshot === snapshot && ctxLive.skipUntil[index] > now) return false;
  return drains.mayKeepSessions(snapshot, index, drainDeadlineMs, now);
}

/** Appends a Set-Cookie value to a response's headers. */
export function appendSetCookie(headers: Record<string, string | string[] | undefined>, value: string): void {
  const prev = headers["set-cookie"];
  headers["set-cookie"] =
    prev === undefined ? [value] : Array.isArray(prev) ? [...prev, value] : [prev, value];
}
