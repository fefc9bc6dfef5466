// The single place state is *applied* on this instance: the last applied config's routing
// part plus per-member health and drain flags, turned into an immutable RoutingState that
// the data plane reads by reference. Every change (a new config, a health transition, a drain)
// goes through apply*, bumps the version, rebuilds only what changed, and swaps the reference.
//
// Today the inputs come from the config file, local active checks and the admin API, and the
// version counts applies. When the cluster lands, committed commands call the same apply*
// methods with `version` = the Raft index of the command; the data plane and everything
// reading `current()` stay as they are.

import type { PoolConfig, RouteConfig } from "../../config/schema.js";
import { buildPoolSnapshot } from "../routing/pool-snapshot.js";
import { compileRouteTable } from "../routing/route-table.js";
import { composeRoutingState, emptyRoutingState } from "../routing/routing-state.js";
import type { MemberInput, PoolSnapshot, RoutingState } from "../routing/types.js";

export interface MemberFlags {
  healthy: boolean;
  draining: boolean;
}

/** The routing part of a config: what this state is built from. */
export interface RoutingInput {
  readonly pools: Readonly<Record<string, PoolConfig>>;
  readonly routes: readonly RouteConfig[];
}

export interface MemberRef {
  pool: string;
  member: string;
}

/** What an apply changed, for the listeners that reconcile metrics and health checkers. */
export interface AppliedChange {
  readonly state: RoutingState;
  /** Pools whose snapshot was rebuilt (all pools on a config apply). */
  readonly rebuiltPools: readonly string[];
  /** Pools that no longer exist. */
  readonly removedPools: readonly string[];
  /** Members that left (their pool may remain). */
  readonly removedMembers: readonly MemberRef[];
  /** Why: "config", "health", "drain". */
  readonly cause: "config" | "health" | "drain";
}

export type ApplyListener = (change: AppliedChange) => void;

export type FlagResult =
  | { ok: true; changed: boolean; state: RoutingState }
  | { ok: false; error: "unknown_pool" | "unknown_member"; message: string };

function memberKey(m: { address: { host: string; port: number } }): string {
  return `${m.address.host}:${m.address.port}`;
}

export class RuntimeState {
  private state: RoutingState = emptyRoutingState();
  private routing: RoutingInput | null = null;
  /** pool -> member id -> flags; kept across config applies for members that stay. */
  private readonly flags = new Map<string, Map<string, MemberFlags>>();
  private version = 0;
  private readonly listeners: ApplyListener[] = [];

  /** @param reportListenerError where a throwing listener's error goes (the state is applied regardless). */
  constructor(private readonly reportListenerError: (err: unknown) => void = () => undefined) {}

  /** The state the data plane routes on now. A field read: safe on the request path. */
  readonly current = (): RoutingState => this.state;

  /** True once a config has been applied. */
  get applied(): boolean {
    return this.routing !== null;
  }

  get ringVersion(): number {
    return this.version;
  }

  /** The routing config last applied, or null. */
  get config(): RoutingInput | null {
    return this.routing;
  }

  onApply(listener: ApplyListener): void {
    this.listeners.push(listener);
  }

  flagsOf(pool: string, member: string): MemberFlags | undefined {
    return this.flags.get(pool)?.get(member);
  }

  /**
   * Applies a validated config's routing: every pool is rebuilt. Members that stay (same id,
   * same address) keep their health and drain flags; new members start healthy (as Envoy
   * does without ignore_new_hosts_until_first_hc) so a reload never empties a pool before
   * the first check. Throws if a snapshot cannot be built; nothing changes in that case.
   */
  applyConfig(routing: RoutingInput, version: number = this.version + 1): AppliedChange {
    this.checkVersion(version);
    const nextFlags = new Map<string, Map<string, MemberFlags>>();
    const pools = new Map<string, PoolSnapshot>();
    const removedMembers: MemberRef[] = [];
    const previous = this.routing;
    for (const [name, settings] of Object.entries(routing.pools)) {
      const oldFlags = this.flags.get(name);
      const oldMembers = new Map((previous?.pools[name]?.members ?? []).map((m) => [m.id, memberKey(m)]));
      const poolFlags = new Map<string, MemberFlags>();
      for (const m of settings.members) {
        const kept = oldMembers.get(m.id) === memberKey(m) ? oldFlags?.get(m.id) : undefined;
        const drainedBefore = oldFlags?.get(m.id)?.draining ?? false;
        poolFlags.set(m.id, { healthy: kept?.healthy ?? true, draining: kept?.draining ?? drainedBefore });
      }
      nextFlags.set(name, poolFlags);
      pools.set(name, this.build(name, settings, poolFlags, version));
      for (const id of oldMembers.keys())
        if (!poolFlags.has(id)) removedMembers.push({ pool: name, member: id });
    }
    const routeTable = compileRouteTable(routing.routes);
    const removedPools =
      previous === null ? [] : Object.keys(previous.pools).filter((p) => !(p in routing.pools));
    for (const p of removedPools) {
      for (const m of previous?.pools[p]?.members ?? []) removedMembers.push({ pool: p, member: m.id });
    }
    // Everything built without throwing: commit.
    this.routing = routing;
    this.flags.clear();
    for (const [k, v] of nextFlags) this.flags.set(k, v);
    this.version = version;
    this.state = composeRoutingState(pools, routeTable, version);
    return this.emit({
      state: this.state,
      rebuiltPools: [...pools.keys()],
      removedPools,
      removedMembers,
      cause: "config",
    });
  }

  /** Marks a member healthy or not (from active checks); rebuilds only its pool. */
  applyHealth(pool: string, member: string, healthy: boolean, version?: number): FlagResult {
    return this.applyFlag(pool, member, "healthy", healthy, "health", version);
  }

  /** Drains or undrains a member (admin API); rebuilds only its pool. */
  applyDrain(pool: string, member: string, draining: boolean, version?: number): FlagResult {
    return this.applyFlag(pool, member, "draining", draining, "drain", version);
  }

  private applyFlag(
    pool: string,
    member: string,
    field: keyof MemberFlags,
    value: boolean,
    cause: "health" | "drain",
    requestedVersion: number | undefined,
  ): FlagResult {
    const settings = this.routing?.pools[pool];
    const poolFlags = this.flags.get(pool);
    if (settings === undefined || poolFlags === undefined) {
      return { ok: false, error: "unknown_pool", message: `no pool named "${pool}"` };
    }
    const flags = poolFlags.get(member);
    if (flags === undefined) {
      return { ok: false, error: "unknown_member", message: `pool "${pool}" has no member "${member}"` };
    }
    if (flags[field] === value) return { ok: true, changed: false, state: this.state };
    const version = requestedVersion ?? this.version + 1;
    this.checkVersion(version);
    const nextPoolFlags = new Map(poolFlags);
    nextPoolFlags.set(member, { ...flags, [field]: value });
    const snapshot = this.build(pool, settings, nextPoolFlags, version);
    this.flags.set(pool, nextPoolFlags);
    this.version = version;
    // Other pools keep their snapshot objects: the data plane's per-pool live counters stay valid.
    const pools = new Map(this.state.pools);
    pools.set(pool, snapshot);
    this.state = composeRoutingState(pools, this.state.routeTable, version);
    this.emit({ state: this.state, rebuiltPools: [pool], removedPools: [], removedMembers: [], cause });
    return { ok: true, changed: true, state: this.state };
  }

  /** Versions only move forward: a replicated log applies commands at increasing indexes. */
  private checkVersion(version: number): void {
    if (!Number.isSafeInteger(version) || version <= this.version) {
      throw new RangeError(`RuntimeState: version must be an integer > ${this.version}, got ${version}`);
    }
  }

  private build(
    name: string,
    settings: PoolConfig,
    flags: ReadonlyMap<string, MemberFlags>,
    version: number,
  ): PoolSnapshot {
    const members: MemberInput[] = settings.members.map((m) => {
      const f = flags.get(m.id);
      return {
        id: m.id,
        address: m.address,
        weight: m.weight,
        healthy: f?.healthy ?? true,
        draining: f?.draining ?? false,
      };
    });
    return buildPoolSnapshot({ name, settings, members, ringVersion: version });
  }

  private emit(change: AppliedChange): AppliedChange {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.reportListenerError(err);
      }
    }
    return change;
  }
}
