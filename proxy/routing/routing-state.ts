// The current RoutingState and how it is replaced: one reference swap, so a request that
// read the old state finishes on it and the next request sees the new one. Also builds a
// whole state from the normalized config (static pools) for the composition root.

import type { PoolConfig, RouteConfig } from "../../config/file/schema.js";
import type { KeyRules } from "./key-extract.js";
import { buildPoolSnapshot } from "./pool-snapshot.js";
import { compileRouteTable } from "./route-table.js";
import type { MemberInput, PoolSnapshot, RouteTable, RoutingState, RoutingStateHolder } from "./types.js";

class Holder implements RoutingStateHolder {
  private current: RoutingState;
  constructor(initial: RoutingState) {
    this.current = initial;
  }
  get(): RoutingState {
    return this.current;
  }
  apply(next: RoutingState): void {
    if (next === null || typeof next !== "object" || !(next.pools instanceof Map)) {
      throw new TypeError("RoutingStateHolder.apply: expected a RoutingState");
    }
    this.current = next;
  }
}

/** A holder starting at `initial` (default: no pools, no routes: every request gets 404 no_route). */
export function createRoutingStateHolder(initial: RoutingState = emptyRoutingState()): RoutingStateHolder {
  return new Holder(initial);
}

export function emptyRoutingState(): RoutingState {
  return Object.freeze({ pools: new Map(), routeTable: compileRouteTable([]), ringVersion: 0 });
}

export interface StaticRoutingInput {
  readonly pools: Readonly<Record<string, PoolConfig>>;
  readonly routes: readonly RouteConfig[];
  readonly ringVersion: number;
  /** The key spelling rules (default the current ones). */
  readonly keyRules?: KeyRules;
  /** Per pool, per member id flags (health, drain, breaker); absent = healthy, not draining, closed. */
  readonly flags?: ReadonlyMap<
    string,
    ReadonlyMap<string, Pick<MemberInput, "healthy" | "draining" | "breakerOpen">>
  >;
}

/** Builds every pool snapshot and the route table from config-shaped plain data. */
export function buildRoutingState(input: StaticRoutingInput): RoutingState {
  const pools = new Map<string, PoolSnapshot>();
  for (const [name, settings] of Object.entries(input.pools)) {
    const flags = input.flags?.get(name);
    const members: MemberInput[] = settings.members.map((m) => ({ ...m, ...flags?.get(m.id) }));
    pools.set(name, buildPoolSnapshot({ name, settings, members, ringVersion: input.ringVersion }));
  }
  return composeRoutingState(pools, compileRouteTable(input.routes, input.keyRules), input.ringVersion);
}

/** A new state from already-built parts (reuse unchanged pools' snapshots by reference). */
export function composeRoutingState(
  pools: ReadonlyMap<string, PoolSnapshot>,
  routeTable: RouteTable,
  ringVersion: number,
): RoutingState {
  return Object.freeze({ pools, routeTable, ringVersion });
}
