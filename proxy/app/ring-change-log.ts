// The last ring changes this instance applied, with their cause, for the dashboard and
// `GET /admin/changes`. The cause is read from the committed command and the state it
// changed: an operator drain or pinned breaker, a health check, the breaker's own rules,
// discovery (the changed members' source: consul, kubernetes...), a config reload, or a
// snapshot install. Bounded; recorded off the request path.

import type { ClusterStateData, StateChange } from "../../config/state/cluster-state.js";
import type { RingChangeView } from "../admin/ops-types.js";

const KEEP = 50;

function changedSource(pools: readonly string[], before: ClusterStateData, after: ClusterStateData): string {
  for (const name of pools) {
    const old = new Map((before.pools[name]?.members ?? []).map((m) => [m.id, m]));
    const now = after.pools[name]?.members ?? [];
    for (const m of now) if (!old.has(m.id) || old.get(m.id)?.address !== m.address) return m.source;
    const ids = new Set(now.map((m) => m.id));
    for (const m of old.values()) if (!ids.has(m.id)) return m.source;
  }
  return "discovery";
}

function pinnedChanged(pools: readonly string[], before: ClusterStateData, after: ClusterStateData): boolean {
  for (const name of pools) {
    const old = new Map((before.pools[name]?.members ?? []).map((m) => [m.id, m]));
    for (const m of after.pools[name]?.members ?? []) {
      const o = old.get(m.id);
      if (o !== undefined && o.breaker.override !== m.breaker.override) return true;
    }
  }
  return false;
}

/** Why a committed change happened, in operator words. */
export function changeCause(
  change: StateChange | null,
  before: ClusterStateData,
  after: ClusterStateData,
): string {
  if (change === null) return "snapshot";
  switch (change.type) {
    case "Drain":
    case "Undrain":
      return "operator";
    case "SetHealth":
      return "health";
    case "SetBreaker":
      return pinnedChanged(change.ringChanged, before, after) ? "operator" : "breaker";
    case "SetMembers": {
      const source = changedSource(change.ringChanged, before, after);
      return source === "static" ? "reload" : source;
    }
    case "SetRouting":
    case "PatchRouting":
    case "SetPoolSettings":
      return "reload";
    default:
      return "other";
  }
}

export class RingChangeLog {
  private readonly entries: RingChangeView[] = [];

  record(
    change: StateChange | null,
    before: ClusterStateData,
    after: ClusterStateData,
    rebuilt: readonly string[],
  ): void {
    if (rebuilt.length === 0) return;
    this.entries.push({
      at: new Date().toISOString(),
      index: change?.index ?? after.appliedIndex,
      ringVersion: after.ringVersion,
      pools: [...rebuilt],
      command: change?.type ?? "snapshot",
      cause: changeCause(change, before, after),
    });
    if (this.entries.length > KEEP) this.entries.splice(0, this.entries.length - KEEP);
  }

  /** Oldest first. */
  list(): RingChangeView[] {
    return this.entries.slice();
  }
}
