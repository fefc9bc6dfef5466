// Warnings about a valid file that probably does not do what its author meant: the file
// stays valid (start runs, validate exits 0), and `validate` and the start log name each one.
// - a gRPC-looking route to an http1 pool (grpc-route-hints.ts);
// - a pool no route sends traffic to (a route renamed or deleted, a pool staged early):
//   its members are health-checked and routed by nobody;
// - two members of one pool at the same address (a copy-paste that forgot to change the port):
//   that upstream takes both members' keys, and its failures count twice. `weight` is the way
//   to give one upstream a larger share;
// - a pool with `passiveEjection`: the schema still accepts the section (routing committed by
//   an older build may carry it, and a replicated pool must re-validate), but nothing reads it.
//   The pool's breaker is the outlier detector, and it acts for the whole fleet;
// - an `http2` section on a pool that speaks HTTP/1.1 (protocol absent or http1): its
//   maxSessions bounds HTTP/2 sessions, which such a pool never opens. A warning, not an error:
//   a pool switched back to http1 keeps a valid file, and replicated pools re-validate.

import { formatAddress } from "../address.js";
import { grpcRouteHints } from "./grpc-route-hints.js";
import type { ShardgateConfig } from "./schema.js";

export interface ConfigHint {
  /** A stable name for log pipelines (the start log's `check` field). */
  readonly check:
    | "grpc_route_on_http1_pool"
    | "pool_without_route"
    | "duplicate_member_address"
    | "passive_ejection_unused"
    | "http2_settings_unused";
  readonly text: string;
}

export function unroutedPoolHints(config: Pick<ShardgateConfig, "pools" | "routes">): string[] {
  const routed = new Set(config.routes.map((r) => r.pool));
  return Object.keys(config.pools)
    .filter((pool) => !routed.has(pool))
    .map((pool) => `pools.${pool} is not the pool of any route: no request reaches its members`);
}

export function duplicateAddressHints(config: Pick<ShardgateConfig, "pools">): string[] {
  const out: string[] = [];
  for (const [pool, p] of Object.entries(config.pools)) {
    const first = new Map<string, number>();
    p.members.forEach((m, i) => {
      const address = formatAddress(m.address).toLowerCase();
      const at = first.get(address);
      if (at === undefined) first.set(address, i);
      else
        out.push(
          `pools.${pool}.members[${i}] (${m.id}) has the address of members[${at}] (${p.members[at].id}), ${formatAddress(m.address)}: that upstream takes both members' keys (use weight to give it a larger share)`,
        );
    });
  }
  return out;
}

export function unusedPassiveEjectionHints(config: Pick<ShardgateConfig, "pools">): string[] {
  return Object.entries(config.pools)
    .filter(([, p]) => p.passiveEjection !== undefined)
    .map(
      ([pool]) =>
        `pools.${pool}.passiveEjection has no effect: a failing member is taken out by the pool's breaker (pools.${pool}.breaker: consecutiveFailures, failureRate), for every instance of the fleet`,
    );
}

export function unusedHttp2Hints(config: Pick<ShardgateConfig, "pools">): string[] {
  return Object.entries(config.pools)
    .filter(([, p]) => p.http2 !== undefined && (p.protocol === undefined || p.protocol === "http1"))
    .map(
      ([pool]) =>
        `pools.${pool}.http2 has no effect: the pool speaks HTTP/1.1 to its members (pools.${pool}.protocol is absent or http1); set protocol to h2c or h2 for HTTP/2 sessions`,
    );
}

export function configHints(config: Pick<ShardgateConfig, "pools" | "routes">): ConfigHint[] {
  return [
    ...grpcRouteHints(config).map((text) => ({ check: "grpc_route_on_http1_pool" as const, text })),
    ...unroutedPoolHints(config).map((text) => ({ check: "pool_without_route" as const, text })),
    ...duplicateAddressHints(config).map((text) => ({ check: "duplicate_member_address" as const, text })),
    ...unusedPassiveEjectionHints(config).map((text) => ({
      check: "passive_ejection_unused" as const,
      text,
    })),
    ...unusedHttp2Hints(config).map((text) => ({ check: "http2_settings_unused" as const, text })),
  ];
}
