// One pure function per cluster-state command: (state, command) -> next pools/routing, or
// a rejection. Nothing here mutates its input; untouched pools keep their identity so the
// caller can diff only what a command replaced.

import type { Address } from "../address.js";
import type { StateErrorCode } from "../coded-error.js";
import { poolSchema, type RoutingConfig } from "../file/schema.js";
import { tableLimitError } from "../file/table-limits.js";
import { issuesToErrors } from "../file/zod-issues.js";
import { canonicalEqual } from "./canonical-json.js";
import type { Command, CommandOf } from "./commands.js";
import { patchedRouting } from "./routing-patch.js";
import type {
  BreakerStatus,
  ClusterStateData,
  MemberSource,
  MemberState,
  PoolSettings,
  PoolState,
} from "./types.js";

export type Transition =
  | { ok: true; pools: Record<string, PoolState>; routing: RoutingConfig | null; warnings: string[] }
  | { ok: false; code: StateErrorCode; error: string };

function refuse(code: StateErrorCode, error: string): Transition {
  return { ok: false, code, error };
}

const CLOSED: BreakerStatus = Object.freeze({
  state: "closed",
  since: 0,
  until: 0,
  trips: 0,
  override: "auto",
});
const settingsSchema = poolSchema.omit({ members: true });

function byId(a: MemberState, b: MemberState): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}

/**
 * A member as (re)declared, keeping the run-time state of the member it replaces: drain is
 * the operator's intent and survives anything; health and breaker reset if the address moved
 * (it is a different upstream now).
 */
function carry(
  prev: MemberState | undefined,
  next: { id: string; address: Address; weight: number; healthy?: boolean },
  source: MemberSource,
): MemberState {
  const moved = prev !== undefined && !sameAddress(prev.address, next.address);
  const healthy = next.healthy ?? (prev === undefined || moved ? true : prev.healthy);
  // Nothing about it changed: keep the previous (frozen) object, so a reload of a
  // 5,000-member pool neither allocates nor freezes 5,000 members again, and the pool
  // diff finds them equal by identity.
  if (
    prev !== undefined &&
    !moved &&
    prev.weight === next.weight &&
    prev.source === source &&
    prev.healthy === healthy &&
    canonicalEqual(prev.address, next.address)
  )
    return prev;
  return {
    id: next.id,
    address: next.address,
    weight: next.weight,
    source,
    healthy,
    draining: prev?.draining ?? false,
    breaker: prev === undefined || moved ? CLOSED : prev.breaker,
  };
}

/** The member source a pool's discovery section feeds ("consul", "kubernetes"), or undefined. */
export function discoverySource(settings: Pick<PoolSettings, "discovery">): MemberSource | undefined {
  const d = settings.discovery;
  if (d?.consul !== undefined) return "consul";
  if (d?.kubernetes !== undefined) return "kubernetes";
  return undefined;
}

function settingsOf(pool: RoutingConfig["pools"][string]): PoolSettings {
  const { members: _members, ...settings } = pool;
  return settings;
}

function setRouting(data: ClusterStateData, routing: RoutingConfig): Transition {
  const pools: Record<string, PoolState> = {};
  const warnings: string[] = [];
  for (const name of Object.keys(routing.pools).sort()) {
    const cfg = routing.pools[name];
    const prev = ownPool(data, name);
    const prevMembers = prev?.members ?? [];
    const find = memberFinder(prevMembers);
    const members: MemberState[] = cfg.members.map((m) => carry(find(m.id), m, "static"));
    const discovered = discoverySource(cfg);
    if (discovered !== undefined) {
      const staticIds = new Set(cfg.members.map((m) => m.id));
      for (const m of prevMembers) {
        if (m.source !== discovered) continue;
        if (staticIds.has(m.id))
          warnings.push(`pool ${name}: static member ${m.id} replaces the ${discovered} member with that id`);
        else members.push(m);
      }
    }
    members.sort(byId);
    // The schema checked the file's own members; the consul members kept above count too.
    const tooBig = tableLimitError(cfg, members);
    if (tooBig !== undefined) return refuse("table_limit", `pool "${name}": ${tooBig.message}`);
    pools[name] = { settings: settingsOf(cfg), members, ringVersion: prev?.ringVersion ?? 0 };
  }
  return { ok: true, pools, routing, warnings };
}

function withPool(
  data: ClusterStateData,
  name: string,
  pool: PoolState,
  warnings: string[] = [],
): Transition {
  return { ok: true, pools: { ...data.pools, [name]: pool }, routing: data.routing, warnings };
}

/**
 * The pool called `name`, by own key only: pool names such as "constructor" are valid, and
 * a plain lookup would find Object.prototype's members for them.
 */
export function ownPool(data: ClusterStateData, name: string): PoolState | undefined {
  return Object.hasOwn(data.pools, name) ? data.pools[name] : undefined;
}

function needPool(data: ClusterStateData, name: string): PoolState | Transition {
  const pool = ownPool(data, name);
  if (pool !== undefined) return pool;
  const known = Object.keys(data.pools);
  return refuse(
    "unknown_pool",
    `unknown pool "${name}" (pools: ${known.length > 0 ? known.join(", ") : "none yet"})`,
  );
}

function setMembers(data: ClusterStateData, cmd: CommandOf<"SetMembers">): Transition {
  const pool = needPool(data, cmd.pool);
  if ("ok" in pool) return pool;
  if (cmd.source !== "static" && discoverySource(pool.settings) !== cmd.source) {
    return refuse(
      "no_discovery",
      `pool "${cmd.pool}" has no ${cmd.source} discovery; ${cmd.source} members are not accepted`,
    );
  }
  const find = memberFinder(pool.members);
  const members: MemberState[] = [];
  for (const m of pool.members) if (m.source !== cmd.source) members.push(m);
  for (const m of cmd.members) {
    const prev = find(m.id);
    if (prev !== undefined && prev.source !== cmd.source) {
      return refuse(
        "member_source_conflict",
        `member id "${m.id}" is already a ${prev.source} member of pool "${cmd.pool}"`,
      );
    }
    members.push(carry(prev, m, cmd.source));
  }
  members.sort(byId);
  const tooBig = tableLimitError(pool.settings, members);
  if (tooBig !== undefined) return refuse("table_limit", `pool "${cmd.pool}": ${tooBig.message}`);
  return withPool(data, cmd.pool, { ...pool, members });
}

/** Binary search for `id` in `members` taken as sorted by id; -1 if not found there. */
function sortedIndex(members: readonly MemberState[], id: string): number {
  let lo = 0;
  let hi = members.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (members[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < members.length && members[lo].id === id ? lo : -1;
}

/**
 * Index of member `id` in `members` (sorted by id, as every pool's are), or -1: a binary
 * search, so a command naming one member of a 5,000-member pool does not index the whole
 * pool. A list that is not sorted after all is searched linearly rather than misread.
 */
export function memberIndex(members: readonly MemberState[], id: string): number {
  const lo = sortedIndex(members, id);
  if (lo >= 0) return lo;
  for (let i = 1; i < members.length; i++)
    if (byId(members[i - 1], members[i]) > 0) return members.findIndex((m) => m.id === id);
  return -1;
}

/**
 * Looks members of `members` up by id. Committed lists are sorted by id, so a binary search
 * each, rather than a Map of the whole pool per reload (5,000 entries of garbage for a
 * reload that adds one member); a list that is not sorted after all gets the Map.
 */
function memberFinder(members: readonly MemberState[]): (id: string) => MemberState | undefined {
  for (let i = 1; i < members.length; i++) {
    if (byId(members[i - 1], members[i]) >= 0) {
      const map = new Map(members.map((m) => [m.id, m]));
      return (id) => map.get(id);
    }
  }
  return (id) => {
    const i = sortedIndex(members, id);
    return i < 0 ? undefined : members[i];
  };
}

function updateMembers(
  data: ClusterStateData,
  poolName: string,
  ids: readonly string[],
  update: (m: MemberState, i: number) => MemberState,
  unknownIsError: boolean,
): Transition {
  const pool = needPool(data, poolName);
  if ("ok" in pool) return pool;
  const members = pool.members.slice();
  const warnings: string[] = [];
  for (let k = 0; k < ids.length; k++) {
    const i = memberIndex(pool.members, ids[k]);
    if (i < 0) {
      const msg = `pool "${poolName}" has no member "${ids[k]}"`;
      if (unknownIsError) return refuse("unknown_member", msg);
      warnings.push(`${msg}; skipped`);
      continue;
    }
    members[i] = update(members[i], k);
  }
  return withPool(data, poolName, { ...pool, members }, warnings);
}

function mergeSettings(current: PoolSettings, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    const cur = merged[key];
    if (value === null) delete merged[key];
    else if (
      typeof value === "object" &&
      !Array.isArray(value) &&
      typeof cur === "object" &&
      cur !== null &&
      !Array.isArray(cur)
    ) {
      merged[key] = { ...cur, ...(value as Record<string, unknown>) };
    } else merged[key] = value;
  }
  return merged;
}

function setPoolSettings(data: ClusterStateData, cmd: CommandOf<"SetPoolSettings">): Transition {
  const pool = needPool(data, cmd.pool);
  if ("ok" in pool) return pool;
  const r = settingsSchema.safeParse(mergeSettings(pool.settings, cmd.settings), { reportInput: true });
  if (!r.success) {
    const errors = issuesToErrors(settingsSchema, r.error.issues);
    return refuse(
      "invalid_settings",
      `invalid settings for pool "${cmd.pool}": ${errors.map((e) => `settings.${e.path}: ${e.message}`).join("; ")}`,
    );
  }
  const tooBig = tableLimitError(r.data, pool.members);
  if (tooBig !== undefined)
    return refuse("table_limit", `invalid settings for pool "${cmd.pool}": ${tooBig.message}`);
  return withPool(data, cmd.pool, { ...pool, settings: r.data });
}

export function transition(data: ClusterStateData, cmd: Command): Transition {
  switch (cmd.type) {
    case "SetRouting":
      return setRouting(data, cmd.routing);
    case "SetMembers":
      return setMembers(data, cmd);
    case "SetHealth":
      return updateMembers(
        data,
        cmd.pool,
        cmd.health.map((h) => h.member),
        (m, k) => (m.healthy === cmd.health[k].healthy ? m : { ...m, healthy: cmd.health[k].healthy }),
        false,
      );
    case "SetBreaker": {
      const breaker: BreakerStatus = {
        state: cmd.state,
        since: cmd.since,
        until: cmd.until,
        trips: cmd.trips,
        override: cmd.override,
      };
      return updateMembers(data, cmd.pool, [cmd.member], (m) => ({ ...m, breaker }), false);
    }
    case "Drain":
    case "Undrain": {
      const draining = cmd.type === "Drain";
      return updateMembers(
        data,
        cmd.pool,
        [cmd.member],
        (m) => (m.draining === draining ? m : { ...m, draining }),
        true,
      );
    }
    case "SetPoolSettings":
      return setPoolSettings(data, cmd);
    case "PatchRouting": {
      // The whole routing rebuilt from the committed one, then exactly SetRouting's transition.
      const r = patchedRouting(data.routing, cmd);
      return r.ok ? setRouting(data, r.routing) : refuse(r.code, r.error);
    }
  }
}
