// The replicated cluster state machine: pools, members, health, drain flags, breaker
// states and the ring version, advanced only by committed commands in log order.
// Deterministic and pure (no clock, no I/O, no randomness): every replica that applies the
// same entries holds byte-identical state. It knows nothing about Raft; a driver calls
// apply(index, bytes) for each committed entry, snapshot() and restore(bytes).
//
// apply never applies half-way: the command is fully validated, the next state is built
// beside the current one, and only then swapped in.

import { errorText, type StateErrorCode } from "../coded-error.js";
import type { RoutingConfig } from "../file/schema.js";
import { canonicalBytes, canonicalEqual } from "./canonical-json.js";
import { type Command, refusalIn } from "./commands.js";
import { persistedForm, restoreSnapshot } from "./snapshot.js";
import { ownPool, transition } from "./transitions.js";
import type { ClusterStateData, MemberState, PoolState, StateChange } from "./types.js";
import { validateCommandOnce } from "./validated-once.js";

export type { ClusterStateData, PoolState, StateChange } from "./types.js";

export const EMPTY_CLUSTER_STATE: ClusterStateData = deepFreeze({
  format: "shardgate.cluster-state",
  v: 1,
  appliedIndex: 0,
  ringVersion: 0,
  routing: null,
  pools: {},
});

/** Freezes what is not frozen yet; shared (already frozen) subtrees are skipped. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    // A pool's member list after a one-member command is a copy of frozen members but one:
    // an indexed loop with the frozen check inline, not a values() copy and a call per member.
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === "object" && v !== null && !Object.isFrozen(v)) deepFreeze(v);
    }
  } else for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/**
 * Freezes a pool's new member list where it differs from the previous one at the same index
 * (pointer comparisons), so the whole-state freeze below finds it frozen and does not look
 * into every member of a 5,000-member pool after a one-member command.
 */
function freezeMembers(next: readonly MemberState[], prev: readonly MemberState[]): void {
  if (Object.isFrozen(next) || next.length !== prev.length) return;
  for (let i = 0; i < next.length; i++) if (next[i] !== prev[i]) deepFreeze(next[i]);
  Object.freeze(next);
}

const RING_SETTINGS = ["algorithm", "pointsPerWeight", "tableSize", "balanceFactor"] as const;

function sameMemberRing(a: MemberState, b: MemberState): boolean {
  return (
    a.id === b.id &&
    a.address.host === b.address.host &&
    a.address.port === b.address.port &&
    a.weight === b.weight &&
    a.healthy === b.healthy &&
    a.draining === b.draining &&
    a.breaker.state === b.breaker.state
  );
}

/**
 * How a pool changed: `ring` if anything that decides which member owns a key did
 * (hashing settings, members, weights, health, drain, breaker state), `any` if anything at
 * all did. Transitions keep unchanged members by identity, so this is cheap for big pools.
 */
function poolDiff(before: PoolState, after: PoolState): { ring: boolean; any: boolean } {
  let ring = false;
  let any = false;
  if (before.settings !== after.settings) {
    for (const k of RING_SETTINGS) if (before.settings[k] !== after.settings[k]) ring = true;
    any = ring || !canonicalEqual(before.settings, after.settings);
  }
  const a = before.members;
  const b = after.members;
  if (a !== b) {
    if (a.length !== b.length) return { ring: true, any: true };
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) continue;
      if (!sameMemberRing(a[i], b[i])) return { ring: true, any: true };
      if (!any && !canonicalEqual(a[i], b[i])) any = true;
    }
  }
  return { ring, any };
}

/**
 * The routing to keep: `prev` itself when `next` is equal to it, else `next` with every pool
 * config and the routes that did not change taken from `prev`, so a reload that touches one
 * pool of a big fleet neither freezes nor keeps a second copy of the others (and readers may
 * compare pools by identity). Equality is canonicalEqual's: stops at the first difference.
 */
function sharedRouting(next: RoutingConfig | null, prev: RoutingConfig | null): RoutingConfig | null {
  if (next === prev || next === null || prev === null) return next;
  let same = true;
  // fromEntries defines own properties: a pool named "__proto__" stays a pool.
  const entries = Object.keys(next.pools).map((name): [string, RoutingConfig["pools"][string]] => {
    const p = next.pools[name];
    const before = Object.hasOwn(prev.pools, name) ? prev.pools[name] : undefined;
    if (before !== undefined && canonicalEqual(p, before)) return [name, before];
    same = false;
    return [name, p];
  });
  const pools: RoutingConfig["pools"] = Object.fromEntries(entries);
  const routes = canonicalEqual(next.routes, prev.routes) ? prev.routes : next.routes;
  if (same && routes === prev.routes && Object.keys(prev.pools).length === Object.keys(next.pools).length)
    return prev;
  return { ...next, pools, routes };
}

function rejected(
  index: number,
  type: StateChange["type"],
  code: StateErrorCode,
  error: string,
  ringVersion: number,
): StateChange {
  return {
    index,
    type,
    applied: false,
    code,
    error,
    warnings: [],
    ringChanged: [],
    poolsChanged: [],
    addedPools: [],
    removedPools: [],
    routesChanged: false,
    ringVersion,
  };
}

export type RestoreResult = { ok: true } | { ok: false; error: string };

export class ClusterState {
  #data: ClusterStateData = EMPTY_CLUSTER_STATE;

  /** The current state: an immutable value; a new object after every apply that changes it. */
  get current(): ClusterStateData {
    return this.#data;
  }

  get ringVersion(): number {
    return this.#data.ringVersion;
  }

  get appliedIndex(): number {
    return this.#data.appliedIndex;
  }

  /**
   * Applies one committed entry. An index at or below appliedIndex is ignored (a replay after
   * restart). An invalid command, or one the current state cannot take (unknown pool ...), is
   * rejected: only appliedIndex advances. Never throws.
   */
  apply(index: number, bytes: Uint8Array): StateChange {
    const prev = this.#data;
    if (!Number.isSafeInteger(index) || index <= prev.appliedIndex) {
      return rejected(
        index,
        null,
        "stale_index",
        `index ${index} is not after the applied index ${prev.appliedIndex}; ignored`,
        prev.ringVersion,
      );
    }
    const decoded = validateCommandOnce(bytes);
    if (!decoded.ok) {
      // A leader's refusal of a forwarded proposal (commands.ts encodeRefusal) says so in the log.
      const refused = refusalIn(bytes);
      const error =
        refused === undefined ? decoded.error : `a proposal the leader refused, not applied: ${refused}`;
      return this.#reject(index, null, "invalid_command", error);
    }
    return this.#applyCommand(index, decoded.command);
  }

  #reject(index: number, type: StateChange["type"], code: StateErrorCode, error: string): StateChange {
    this.#data = Object.freeze({ ...this.#data, appliedIndex: index });
    return rejected(index, type, code, error, this.#data.ringVersion);
  }

  #applyCommand(index: number, command: Command): StateChange {
    const prev = this.#data;
    let next: ClusterStateData;
    let change: StateChange;
    try {
      const t = transition(prev, command);
      if (!t.ok) return this.#reject(index, command.type, t.code, t.error);
      const ringChanged: string[] = [];
      const poolsChanged: string[] = [];
      const addedPools: string[] = [];
      const removedPools: string[] = [];
      const pools: Record<string, PoolState> = {};
      for (const name of Object.keys(t.pools).sort()) {
        let pool = t.pools[name];
        const before = ownPool(prev, name);
        if (before === undefined) {
          addedPools.push(name);
          poolsChanged.push(name);
          ringChanged.push(name);
          pool = { ...pool, ringVersion: index };
        } else if (pool !== before) {
          const d = poolDiff(before, pool);
          if (!d.any) {
            // Keep the old object when nothing changed, so readers can compare by identity.
            pool = before;
          } else {
            poolsChanged.push(name);
            if (d.ring) ringChanged.push(name);
            pool = { ...pool, ringVersion: d.ring ? index : before.ringVersion };
            freezeMembers(pool.members, before.members);
          }
        }
        pools[name] = pool;
      }
      for (const name of Object.keys(prev.pools).sort())
        if (!Object.hasOwn(t.pools, name)) removedPools.push(name);
      const routesChanged =
        t.routing !== prev.routing &&
        !canonicalEqual(t.routing?.routes ?? null, prev.routing?.routes ?? null);
      const routingChanged = ringChanged.length > 0 || removedPools.length > 0 || routesChanged;
      const ringVersion = routingChanged ? index : prev.ringVersion;
      const routing = sharedRouting(t.routing, prev.routing);
      next = deepFreeze({ ...prev, appliedIndex: index, ringVersion, routing, pools });
      change = {
        index,
        type: command.type,
        applied: true,
        warnings: t.warnings,
        ringChanged,
        poolsChanged,
        addedPools,
        removedPools,
        routesChanged,
        ringVersion,
      };
    } catch (err) {
      // A bug, not bad input; the state stays exactly as it was apart from the index.
      return this.#reject(
        index,
        command.type,
        "internal",
        `internal error applying ${command.type}: ${errorText(err)}`,
      );
    }
    this.#data = next;
    return change;
  }

  /** The whole state as canonical JSON bytes: equal states give equal bytes. */
  snapshot(): Uint8Array {
    return canonicalBytes(persistedForm(this.#data));
  }

  /** Replaces the state with one restoreSnapshot() decoded (the snapshot's bytes decoded once). */
  restoreDecoded(data: ClusterStateData): void {
    this.#data = deepFreeze(data);
  }

  /** Replaces the state with a snapshot's; a bad snapshot leaves the state untouched. */
  restore(bytes: Uint8Array): RestoreResult {
    const r = restoreSnapshot(bytes);
    if (!r.ok) return r;
    this.#data = deepFreeze(r.data);
    return { ok: true };
  }
}
