// What every committed change does to this instance besides routing: metrics (ring version,
// member series, health flags, ring stats), health-transition counters and log lines. Runs
// off the request path, after the new RoutingState is swapped in.

import type { ClusterStateData, StateChange } from "../../config/cluster-state.js";
import type { RoutingChange } from "../cluster/committed-routing.js";
import type { ProcessLogger } from "../logging/logger.js";
import type { ShardgateMetrics } from "../metrics/registry.js";
import { tableStats } from "../metrics/ring-stats.js";
import type { SeriesCache } from "../metrics/series-cache.js";

function sameIdsInOrder(a: readonly { id: string }[], b: readonly { id: string }[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].id !== b[i].id) return false;
  return true;
}

export function reportApplied(
  log: ProcessLogger["logger"],
  metrics: ShardgateMetrics,
  series: SeriesCache,
  change: StateChange | null,
  before: ClusterStateData,
  after: ClusterStateData,
  routing: RoutingChange,
): void {
  metrics.ringVersion.set(routing.state.ringVersion);
  for (const pool of routing.removedPools) series.removePool(pool);
  series.syncRoutes(routing.state.routeTable.routes.map((r) => r.label));
  for (const f of routing.failed)
    log.error(
      { pool: f.pool, err: f.error, index: change?.index },
      "committed pool cannot be built; the old one keeps serving",
    );
  const cause = change === null ? "snapshot" : change.type;
  for (const name of routing.rebuiltPools) {
    const snap = routing.state.pools.get(name);
    if (snap === undefined) continue;
    const beforeMembers = before.pools[name]?.members ?? [];
    const afterMembers = after.pools[name]?.members ?? [];
    // Same table: the same members (sorted by id in the state, so index-aligned), only some
    // flags changed. Visit the changed ones, so a drain at 5,000 members costs one member.
    const kept = routing.tableKept.has(name) && sameIdsInOrder(beforeMembers, afterMembers);
    if (!kept)
      series.syncMembers(
        name,
        snap.members.map((m) => m.id),
      );
    // After syncMembers: a pool seen for the first time has no series holder before it.
    const ps = series.pool(name);
    if (!kept) {
      for (const m of snap.members) ps.member(m.id).setFlags(m.healthy, m.draining);
      const stats = tableStats(snap.table);
      metrics.ringPoints.set({ pool: name }, stats.size);
      metrics.ringMemberPointsMin.set({ pool: name }, stats.minPerMember);
      metrics.ringMemberPointsMax.set({ pool: name }, stats.maxPerMember);
    }
    // Health transitions of members that stay (new members start healthy: not a transition).
    const old = kept ? null : new Map(beforeMembers.map((m) => [m.id, m]));
    for (let i = 0; i < afterMembers.length; i++) {
      const m = afterMembers[i];
      const o = old === null ? beforeMembers[i] : old.get(m.id);
      if (o === undefined || o === m) continue;
      if (kept) ps.member(m.id).setFlags(m.healthy, m.drained);
      if (o.healthy !== m.healthy) {
        ps.member(m.id)
          .healthTransitions(m.healthy ? "healthy" : "unhealthy")
          .inc();
        const fields = {
          pool: name,
          member: m.id,
          healthy: m.healthy,
          reason: cause,
          ringVersion: after.ringVersion,
        };
        if (m.healthy) log.info(fields, "member healthy");
        else log.warn(fields, "member unhealthy");
      }
      if (o.breaker.state !== m.breaker.state || o.breaker.override !== m.breaker.override) {
        log.info(
          {
            pool: name,
            member: m.id,
            from: o.breaker.state,
            to: m.breaker.state,
            override: m.breaker.override,
            ringVersion: after.ringVersion,
          },
          "breaker state committed",
        );
      }
      if (o.drained !== m.drained)
        log.info(
          { pool: name, member: m.id, draining: m.drained, ringVersion: after.ringVersion },
          "member drain changed",
        );
    }
  }
}
