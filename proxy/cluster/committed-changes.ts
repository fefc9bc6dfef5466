// The one owner of "a committed entry was applied -> new routing state -> swap -> report".
// ClusterNode hands every applied entry (or snapshot restore) to `CommittedChanges.applied`;
// this file decides whether anything routed changed, has CommittedRouting (the adjacent
// committed-routing.ts) rebuild the touched pools and swap the RoutingState in, then updates
// the metrics (ring version, member series, health flags, ring stats), health-transition
// counters, log lines and the ring change log. Runs off the request path. The composition
// root (proxy/app/join-cluster.ts) only wires it.

import type { LogSink } from "../../config/log-sink.js";
import type { ClusterStateData, StateChange } from "../../config/state/cluster-state.js";
import type { ShardgateMetrics } from "../metrics/registry.js";
import { tableStats } from "../metrics/ring-stats.js";
import type { SeriesCache } from "../metrics/series-cache.js";
import type { CommittedRouting, RoutingChange } from "./committed-routing.js";

/** Where applied ring changes are recorded with their cause (dashboard, /admin/changes). */
export interface RingChangeRecorder {
  record(
    change: StateChange | null,
    before: ClusterStateData,
    after: ClusterStateData,
    rebuilt: readonly string[],
  ): void;
}

export interface CommittedChangesOptions {
  routing: CommittedRouting;
  /** The process logger (member health and breaker lines). */
  log: LogSink;
  /** The cluster component's logger (rejected commands, warnings). */
  clusterLog: LogSink;
  metrics: ShardgateMetrics;
  series: SeriesCache;
  changes?: RingChangeRecorder;
}

export class CommittedChanges {
  constructor(private readonly o: CommittedChangesOptions) {}

  /** One applied entry (`change`), or a snapshot restore (`change` null). */
  applied(change: StateChange | null, before: ClusterStateData, after: ClusterStateData): void {
    const o = this.o;
    if (change !== null && !change.applied) {
      o.clusterLog.warn(
        { index: change.index, type: change.type, code: change.code, error: change.error },
        "committed command rejected",
      );
      return;
    }
    // A state without routing leaves the routing in use (the file's) as it is: see CommittedRouting.apply.
    const nothingRouted =
      after.routing === null ||
      (change !== null &&
        change.poolsChanged.length === 0 &&
        change.removedPools.length === 0 &&
        !change.routesChanged &&
        after.routing === before.routing);
    if (nothingRouted) return;
    const r = o.routing.apply(
      after,
      change === null ? "all" : change.poolsChanged,
      change?.routesChanged ?? true,
    );
    reportApplied(o.log, o.metrics, o.series, change, before, after, r);
    o.changes?.record(change, before, after, r.rebuiltPools);
    for (const w of change?.warnings ?? []) o.clusterLog.warn({ index: change?.index }, w);
  }
}

function sameIdsInOrder(a: readonly { id: string }[], b: readonly { id: string }[]): boolean {
  if (a.length !== b.length) return false;
  // Unchanged members are the same objects: compare pointers first, ids only where they differ.
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && a[i].id !== b[i].id) return false;
  return true;
}

function reportApplied(
  log: LogSink,
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
      // Indexed: a for-of here (once per reload, not optimised) allocated an iterator result
      // per member, 200 KiB per reload at 5,000 members.
      const members = snap.members;
      for (let i = 0; i < members.length; i++)
        ps.member(members[i].id).setFlags(members[i].healthy, members[i].draining);
      const stats = tableStats(snap.table);
      metrics.ringPoints.set({ pool: name }, stats.size);
      metrics.ringMemberPointsMin.set({ pool: name }, stats.minPerMember);
      metrics.ringMemberPointsMax.set({ pool: name }, stats.maxPerMember);
    }
    // Health transitions of members that stay (new members start healthy: not a transition).
    // Both lists are sorted by id (the state keeps them so): a merge walk pairs each member
    // with its previous self, without a Map of the whole pool per reload.
    let j = 0;
    for (let i = 0; i < afterMembers.length; i++) {
      const m = afterMembers[i];
      let o: (typeof beforeMembers)[number] | undefined;
      if (kept) o = beforeMembers[i];
      else {
        while (j < beforeMembers.length && beforeMembers[j].id < m.id) j++;
        o = j < beforeMembers.length && beforeMembers[j].id === m.id ? beforeMembers[j] : undefined;
      }
      if (o === undefined || o === m) continue;
      if (kept) ps.member(m.id).setFlags(m.healthy, m.draining);
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
      if (o.draining !== m.draining)
        log.info(
          { pool: name, member: m.id, draining: m.draining, ringVersion: after.ringVersion },
          "member drain changed",
        );
    }
  }
}
