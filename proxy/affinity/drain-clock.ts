// When this instance first saw each member draining. A draining member keeps the sessions
// pinned to it (cookie or store) until `drainDeadline` after that moment, so a drain lets
// sessions end instead of cutting them at once. The replicated state says only "draining",
// not since when, so each instance measures from when it applied the flag; instances apply
// the same committed entry within moments of each other.

import type { PoolSnapshot, RoutingState } from "../routing/types.js";

export class DrainClock {
  /** "pool\0member" -> monotonic ms first seen draining. */
  private readonly since = new Map<string, number>();
  private seen: RoutingState | null = null;

  constructor(private readonly now: () => number) {}

  /** Re-reads the draining flags when the state changed (by reference); cheap otherwise. */
  observe(state: RoutingState): void {
    if (state === this.seen) return;
    this.seen = state;
    const draining = new Set<string>();
    for (const snap of state.pools.values()) {
      for (const m of snap.members) if (m.draining) draining.add(`${snap.name}\0${m.id}`);
    }
    for (const k of this.since.keys()) if (!draining.has(k)) this.since.delete(k);
    const t = this.now();
    for (const k of draining) if (!this.since.has(k)) this.since.set(k, t);
  }

  /** Whether a draining member may still serve its existing sessions (healthy, breaker closed, before the deadline). */
  mayKeepSessions(snapshot: PoolSnapshot, index: number, deadlineMs: number, now: number): boolean {
    const m = snapshot.members[index];
    if (!m.draining || !m.healthy || m.breakerOpen || m.breakerHalfOpen) return false;
    const since = this.since.get(`${snapshot.name}\0${m.id}`);
    return since !== undefined && now - since < deadlineMs;
  }
}
