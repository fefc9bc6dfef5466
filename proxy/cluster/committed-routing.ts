// The RoutingState the data plane reads, built from the committed cluster state. After each
// applied entry only the pools it touched are rebuilt (and the route table only when routes
// changed); unchanged pools keep their snapshot objects, so the data plane's per-pool live
// counters stay valid. The new state is swapped in by reference.
//
// Until routing is committed (a fresh fleet without quorum yet, even once a founding voter
// holds its bootstrap entry) the instance routes provisionally on its own file at ring version
// 0; /readyz says not ready until the first committed routing arrives.

import { errorText } from "../../config/coded-error.js";
import type { RoutingConfig } from "../../config/file/schema.js";
import {
  LEVEL_FORWARDED_NOTHING,
  LEVEL_HOST_KEY,
  LEVEL_HOST_KEY_PORTS,
  LEVEL_KEY_SPELLING,
} from "../../config/raft/core/index.js";
import type { ClusterStateData, MemberState, PoolState } from "../../config/state/types.js";
import { CURRENT_KEY_RULES, type KeyRules } from "../routing/key-extract.js";
import { updatePoolSnapshot } from "../routing/pool-snapshot.js";
import { compileRouteTable } from "../routing/route-table.js";
import { buildRoutingState, composeRoutingState, emptyRoutingState } from "../routing/routing-state.js";
import type { MemberInput, PoolSnapshot, ProbeGate, RoutingState } from "../routing/types.js";

/**
 * The key rules of committed cluster level `level`: s14's spellings from LEVEL_KEY_SPELLING on,
 * Forwarded nodes that identify nothing read as absent from LEVEL_FORWARDED_NOTHING on, a host
 * key without the listener's default port and a trailing dot from LEVEL_HOST_KEY on, and without
 * port 80 or 443 whichever the listener from LEVEL_HOST_KEY_PORTS on.
 */
export function keyRulesAt(level: number): KeyRules {
  if (level >= LEVEL_HOST_KEY_PORTS) return "v7";
  if (level >= LEVEL_HOST_KEY) return "v6";
  return level >= LEVEL_FORWARDED_NOTHING ? "v5" : level >= LEVEL_KEY_SPELLING ? "v4" : "v3";
}

export interface RoutingChange {
  readonly state: RoutingState;
  readonly rebuiltPools: readonly string[];
  readonly removedPools: readonly string[];
  /** Rebuilt pools whose new snapshot shares the previous one's table (same members, flags changed). */
  readonly tableKept: ReadonlySet<string>;
  /** Pools whose snapshot could not be built (the old one keeps serving), with the reason. */
  readonly failed: ReadonlyArray<{ pool: string; error: string }>;
}

/**
 * Makes the probe gate of a pool snapshot once it is built (members are in table order only
 * then). Returns null for pools whose breaker is disabled. `previous` is the gate of the
 * pool's previous snapshot when the new one shares its table (same members at the same
 * indices): the factory may return it again rather than map every member anew.
 */
export type ProbeGateFactory = (snapshot: PoolSnapshot, previous: ProbeGate | null) => ProbeGate | null;

/** A gate whose target is bound after the snapshot exists (the snapshot holds the gate). */
class LateProbeGate implements ProbeGate {
  target: ProbeGate | null = null;
  admit(index: number): boolean {
    return this.target?.admit(index) === true;
  }
  release(index: number): void {
    this.target?.release(index);
  }
  available(index: number): boolean {
    return this.target?.available(index) === true;
  }
}

/** The snapshot inputs last made from a pool's committed members, to reuse for members that did not change. */
interface PoolInputs {
  readonly states: readonly MemberState[];
  readonly inputs: readonly MemberInput[];
}

function memberInput(m: MemberState): MemberInput {
  return {
    id: m.id,
    address: m.address,
    weight: m.weight,
    healthy: m.healthy,
    draining: m.draining,
    breakerOpen: m.breaker.state === "open",
    breakerHalfOpen: m.breaker.state === "half-open",
  };
}

/**
 * The snapshot inputs of `states`. Committed transitions keep unchanged members by identity
 * and members sorted by id, so only the changed members get a new input object (and the
 * snapshot update can then compare inputs by identity): a drain at 5,000 members allocates
 * one input, not 5,000, and so does a join or a leave (the two lists are walked side by side
 * in id order; a list out of order only finds fewer to reuse).
 */
function memberInputs(states: readonly MemberState[], prev: PoolInputs | undefined): MemberInput[] {
  const out: MemberInput[] = new Array(states.length);
  const before = prev?.states ?? [];
  let j = 0;
  for (let i = 0; i < states.length; i++) {
    const m = states[i];
    while (j < before.length && before[j].id < m.id) j++;
    out[i] = j < before.length && before[j] === m ? (prev as PoolInputs).inputs[j] : memberInput(m);
  }
  return out;
}

export class CommittedRouting {
  private state: RoutingState = Object.freeze({ ...emptyRoutingState(), provisional: true });
  private data: ClusterStateData | null = null;
  private readonly inputs = new Map<string, PoolInputs>();

  /**
   * `keyRules`: how keys are read until setKeyRules says otherwise ("v3" on a clustered instance
   * until the committed cluster level has LEVEL_KEY_SPELLING, then "v4" until it has
   * LEVEL_FORWARDED_NOTHING; CURRENT_KEY_RULES standalone).
   */
  constructor(
    private readonly probeGates: ProbeGateFactory = () => null,
    private keyRules: KeyRules = CURRENT_KEY_RULES,
  ) {}

  get rules(): KeyRules {
    return this.keyRules;
  }

  /**
   * Reads keys by `rules` from now on: the route table is compiled anew with them and swapped in
   * (pools kept by reference), as an applied entry does. False when the rules were already these.
   */
  setKeyRules(rules: KeyRules): boolean {
    if (rules === this.keyRules) return false;
    this.keyRules = rules;
    const s = this.state;
    const routeTable = compileRouteTable(
      s.routeTable.routes.map((r) => r.config),
      rules,
    );
    this.state = Object.freeze({ ...s, routeTable });
    return true;
  }

  /** The state the data plane routes on now. A field read: safe on the request path. */
  readonly current = (): RoutingState => this.state;

  /** The committed cluster state routing was last built from, or null (provisional: no routing committed yet). */
  get committed(): ClusterStateData | null {
    return this.data;
  }

  /** True once routing comes from a committed SetRouting. */
  get applied(): boolean {
    return this.data?.routing != null;
  }

  get ringVersion(): number {
    return this.state.ringVersion;
  }

  /** Routes of the state in use (committed, or the provisional file's). */
  routes(): readonly { pool: string }[] {
    return this.state.routeTable.routes.map((r) => r.config);
  }

  /** Routes provisionally on the file's routing (ring version 0) until a committed state arrives. */
  applyProvisional(routing: Pick<RoutingConfig, "pools" | "routes">): RoutingState {
    const built = buildRoutingState({
      pools: routing.pools,
      routes: routing.routes,
      ringVersion: 0,
      keyRules: this.keyRules,
    });
    this.state = Object.freeze({ ...built, provisional: true });
    return this.state;
  }

  /**
   * Rebuilds `pools` (and the route table when `routesChanged`) from `data`; "all" rebuilds
   * everything (after a snapshot restore, or the first committed routing).
   */
  apply(data: ClusterStateData, pools: readonly string[] | "all", routesChanged: boolean): RoutingChange {
    // A committed state without routing (the bootstrap snapshot a founding voter installs and
    // restores on every restart until a SetRouting commits) has nothing to route on: its empty
    // pools would answer no_route to every request. The routing in use (the file's, provisional)
    // stays, and this state is not "committed routing" for readiness or a starting worker.
    if (data.routing === null)
      return { state: this.state, rebuiltPools: [], tableKept: new Set(), removedPools: [], failed: [] };
    const first = this.data?.routing == null;
    const all = pools === "all" || first;
    const next = new Map<string, PoolSnapshot>();
    const rebuilt: string[] = [];
    const tableKept = new Set<string>();
    const failed: Array<{ pool: string; error: string }> = [];
    const wanted = new Set(all ? Object.keys(data.pools) : pools);
    for (const name of Object.keys(data.pools)) {
      const old = this.state.pools.get(name);
      if (!wanted.has(name) && old !== undefined && !first) {
        next.set(name, old);
        continue;
      }
      try {
        const snap = this.build(name, data.pools[name], first ? undefined : old);
        next.set(name, snap);
        rebuilt.push(name);
        if (old !== undefined && snap.table === old.table) tableKept.add(name);
      } catch (err) {
        failed.push({ pool: name, error: errorText(err) });
        if (old !== undefined) next.set(name, old);
      }
    }
    const removed = [...this.state.pools.keys()].filter((p) => !(p in data.pools));
    for (const name of this.inputs.keys()) if (!Object.hasOwn(data.pools, name)) this.inputs.delete(name);
    const routeTable =
      all || routesChanged || removed.length > 0
        ? compileRouteTable(data.routing?.routes ?? [], this.keyRules)
        : this.state.routeTable;
    this.data = data;
    this.state = composeRoutingState(next, routeTable, data.ringVersion);
    return { state: this.state, rebuiltPools: rebuilt, tableKept, removedPools: removed, failed };
  }

  private build(name: string, pool: PoolState, old: PoolSnapshot | undefined): PoolSnapshot {
    const members = memberInputs(pool.members, this.inputs.get(name));
    this.inputs.set(name, { states: pool.members, inputs: members });
    const gate = new LateProbeGate();
    // Flag-only changes (drain, health, breaker) share the old table: see updatePoolSnapshot.
    const snap = updatePoolSnapshot(old, {
      name,
      settings: pool.settings,
      members,
      ringVersion: pool.ringVersion,
      probe: gate,
    });
    const previous =
      old !== undefined && snap.table === old.table && old.probe instanceof LateProbeGate
        ? old.probe.target
        : null;
    gate.target = this.probeGates(snap, previous);
    return snap;
  }
}
