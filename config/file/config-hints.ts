// Warnings about a valid file that probably does not do what its author meant: the file
// stays valid (start runs, validate exits 0), and `validate` and the start log name each one.
// - a gRPC-looking route to an http1 pool (grpc-route-hints.ts);
// - a pool no route sends traffic to (a route renamed or deleted, a pool staged early):
//   its members are health-checked and routed by nobody.

import { grpcRouteHints } from "./grpc-route-hints.js";
import type { ShardgateConfig } from "./schema.js";

export interface ConfigHint {
  /** A stable name for log pipelines (the start log's `check` field). */
  readonly check: "grpc_route_on_http1_pool" | "pool_without_route";
  readonly text: string;
}

export function unroutedPoolHints(config: Pick<ShardgateConfig, "pools" | "routes">): string[] {
  const routed = new Set(config.routes.map((r) => r.pool));
  return Object.keys(config.pools)
    .filter((pool) => !routed.has(pool))
    .map((pool) => `pools.${pool} is not the pool of any route: no request reaches its members`);
}

export function configHints(config: Pick<ShardgateConfig, "pools" | "routes">): ConfigHint[] {
  return [
    ...grpcRouteHints(config).map((text) => ({ check: "grpc_route_on_http1_pool" as const, text })),
    ...unroutedPoolHints(config).map((text) => ({ check: "pool_without_route" as const, text })),
  ];
}
