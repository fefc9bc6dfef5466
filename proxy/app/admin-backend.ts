// The admin API's view of the running app: readiness, state and route explanations read from
// the applied RoutingState; reload and drain delegate to the app. Allocation here is fine:
// none of it is on the request path.

import type { Registry } from "prom-client";
import type {
  AdminBackend,
  AdminResult,
  AdminStateView,
  DrainView,
  Readiness,
  ReloadView,
  RouteExplanationView,
} from "../admin/types.js";
import type { DataPlane } from "../forward/types.js";
import type { RuntimeState } from "./runtime-state.js";

export interface AdminBackendDeps {
  runtime: RuntimeState;
  dataPlane: DataPlane;
  registry: Registry;
  adminToken(): string;
  shuttingDown(): boolean;
  reload(): Promise<AdminResult<ReloadView>>;
  setDraining(pool: string, member: string, draining: boolean): AdminResult<DrainView>;
}

/** Pools that some route sends traffic to: the ones readiness depends on. */
function routedPools(runtime: RuntimeState): Set<string> {
  return new Set((runtime.config?.routes ?? []).map((r) => r.pool));
}

export function createAdminBackend(d: AdminBackendDeps): AdminBackend {
  return {
    readiness(): Readiness {
      if (d.shuttingDown()) return { ready: false, reason: "shutting_down" };
      if (!d.runtime.applied) return { ready: false, reason: "no_config_applied" };
      const state = d.runtime.current();
      const unavailable: string[] = [];
      for (const pool of routedPools(d.runtime)) {
        const snap = state.pools.get(pool);
        if (snap === undefined || !snap.eligible.includes(1)) unavailable.push(pool);
      }
      if (unavailable.length > 0) {
        return { ready: false, reason: "no_available_member", detail: { pools: unavailable.sort() } };
      }
      return { ready: true };
    },

    state(): AdminStateView {
      const state = d.runtime.current();
      const pools: AdminStateView["pools"] = {};
      for (const [name, snap] of state.pools) {
        pools[name] = {
          algorithm: snap.settings.algorithm,
          ...(snap.settings.balanceFactor === undefined
            ? {}
            : { balanceFactor: snap.settings.balanceFactor }),
          ringVersion: snap.ringVersion,
          members: snap.members.map((m) => ({
            id: m.id,
            address: m.hostPort,
            weight: m.weight,
            healthy: m.healthy,
            draining: m.draining,
            breakerOpen: m.breakerOpen,
          })),
        };
      }
      return { ringVersion: state.ringVersion, pools };
    },

    explainRoute(pool: string, key: string): AdminResult<RouteExplanationView> {
      const e = d.dataPlane.explain(pool, key);
      if (e === null) {
        return { ok: false, err: { status: 404, error: "unknown_pool", message: `no pool named "${pool}"` } };
      }
      return {
        ok: true,
        value: {
          pool: e.pool,
          key,
          keyHash: e.keyHash,
          owner: e.owner,
          member: e.member,
          skipped: e.skipped,
          ringVersion: e.ringVersion,
        },
      };
    },

    reload: () => d.reload(),
    setDraining: (pool, member, draining) => d.setDraining(pool, member, draining),

    async metrics() {
      return { contentType: d.registry.contentType, body: await d.registry.metrics() };
    },

    adminToken: () => d.adminToken(),
  };
}
