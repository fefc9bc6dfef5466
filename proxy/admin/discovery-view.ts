// A discovered pool's watcher as /admin/state shows it (`pools.P.discovery`): where the
// members come from and, on the instance that runs the watcher (the Raft leader), how the
// watch goes: consecutive errors, the last error and when, the last good answer, and the
// times the source made it start over (Consul's index going backwards, Kubernetes' 410 Gone
// re-lists and expired list continues). Before, these figures existed only inside the
// watcher: an operator saw shardgate_discovery_errors_total climb but not why, nor since when.
// A follower (no watcher) says where they are: `on: "leader"` and the leader's id.

import type { DiscoveryWatcherStatus, PoolMembershipStatus } from "../../health/membership-controller.js";
import type { AdminDiscoveryView } from "./types.js";

/** The discovery part of a pool's committed settings (only what the view names). */
export interface DiscoverySettings {
  consul?: { service: string };
  kubernetes?: { service: string; namespace: string };
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function watcherFigures(w: DiscoveryWatcherStatus): Partial<AdminDiscoveryView> {
  const common: Partial<AdminDiscoveryView> = {
    synced: w.synced,
    consecutiveErrors: w.consecutiveErrors,
    requests: w.requests,
    ...(w.lastError === undefined ? {} : { lastError: w.lastError }),
    ...(w.lastErrorAt === undefined ? {} : { lastErrorAt: iso(w.lastErrorAt) }),
    ...(w.lastSuccessAt === undefined ? {} : { lastSuccessAt: iso(w.lastSuccessAt) }),
  };
  if ("indexResets" in w) return { ...common, indexResets: w.indexResets };
  return { ...common, gone: w.gone, expiredContinues: w.expiredContinues };
}

/**
 * The view of one pool's discovery, or undefined for a static pool. `status` is the
 * membership controller's entry for the pool, present only where the watcher runs; elsewhere
 * the view says where the figures are: on the Raft leader, `leader` (its node id; null while
 * none is known). The leader's figures are not replicated: pointing at it is simpler and as
 * fresh as asking it.
 */
export function discoveryView(
  settings: DiscoverySettings | undefined,
  status: PoolMembershipStatus | undefined,
  leader: string | undefined,
): AdminDiscoveryView | undefined {
  if (settings === undefined) return undefined;
  const k8s = settings.kubernetes;
  const source = k8s !== undefined ? "kubernetes" : "consul";
  const service = k8s !== undefined ? `${k8s.namespace}/${k8s.service}` : (settings.consul?.service ?? "");
  if (status === undefined)
    return {
      source,
      service,
      watching: false,
      on: "leader",
      leader: leader === "" ? null : (leader ?? null),
    };
  return {
    source,
    service,
    watching: true,
    on: "here",
    ...(status.watcher === undefined ? {} : watcherFigures(status.watcher)),
    ...(status.watcherError === undefined ? {} : { watcherError: status.watcherError }),
  };
}
