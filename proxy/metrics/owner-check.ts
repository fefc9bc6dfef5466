// Why a keyed request was not served by its key's ring owner, decided when it ends: the
// owner in the snapshot the request used was draining, unhealthy or behind an open breaker,
// the request was retried elsewhere, bounded load sent it on, or (none of those) the owner was
// skipped locally after refusing a connection. Runs on the request path: one Map lookup and
// one table lookup, no allocation.

import type { RequestRecord } from "../forward/types.js";
import type { RoutingState } from "../routing/types.js";

export const NOT_OWNER_REASONS = [
  "draining",
  "unhealthy",
  "breaker_open",
  "breaker_half_open",
  "retry",
  "bounded_load",
  "local_skip",
  "ring_changed",
] as const;
export type NotOwnerReason = (typeof NOT_OWNER_REASONS)[number];

/** The reason `r` went to a member other than its key's owner, or null when it went to the owner (or had no key or member). */
export function notOwnerReason(state: RoutingState, r: RequestRecord): NotOwnerReason | null {
  if (r.keyHash < 0 || r.member === "" || r.pool === "") return null;
  const snap = state.pools.get(r.pool);
  if (snap === undefined) return null;
  if (snap.ringVersion !== r.ringVersion) return "ring_changed";
  const i = snap.table.lookup(r.keyHash);
  if (i < 0) return null;
  const owner = snap.members[i];
  if (owner.id === r.member) return null;
  if (owner.draining) return "draining";
  if (!owner.healthy) return "unhealthy";
  if (owner.breakerOpen) return "breaker_open";
  if (owner.breakerHalfOpen) return "breaker_half_open";
  if (r.attempts > 1) return "retry";
  if (snap.bounded !== null) return "bounded_load";
  return "local_skip";
}
