// A committed cluster state of one pool, p (ring, keyed by client ip, the schema's defaults
// otherwise), holding the members given: what unit tests hand to the state's consumers
// (routing, breaker controller, change reports) without a Raft log. Members are frozen static
// records with a closed breaker, as the state machine keeps them.

import { configSchema } from "../../config/file/schema.js";
import type { ClusterStateData, MemberState } from "../../config/state/types.js";

const parsed = configSchema.parse({
  pools: { p: { members: [], algorithm: "ring" } },
  routes: [{ pool: "p", key: ["ip"] }],
});

const { members: _static, ...settings } = parsed.pools.p;
/** Pool p's settings (the schema's defaults for a ring pool). */
export const poolSettings = settings;

const breaker = Object.freeze({
  state: "closed",
  since: 0,
  until: 0,
  trips: 0,
  override: "auto",
}) as MemberState["breaker"];

/** A healthy static member `id` at 127.0.0.1:`port`. */
export function poolMember(id: string, port = 1024): MemberState {
  return Object.freeze({
    id,
    address: Object.freeze({ host: "127.0.0.1", port }),
    weight: 1,
    source: "static",
    healthy: true,
    draining: false,
    breaker,
  }) as MemberState;
}

/** The state at `version` (its applied index and ring version) with `members` in pool p. */
export function onePoolState(members: readonly MemberState[], version: number): ClusterStateData {
  return {
    format: "shardgate.cluster-state",
    v: 1,
    appliedIndex: version,
    ringVersion: version,
    routing: { pools: parsed.pools, routes: parsed.routes } as ClusterStateData["routing"],
    pools: { p: { settings: poolSettings, members, ringVersion: version } },
  };
}
