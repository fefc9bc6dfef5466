// Turns one pool's discovered member view into at most one cluster command, diffed against
// the committed pool: a SetMembers (the discovery source's, carrying every member's health) when
// membership, an address or a weight changed, else a SetHealth with only the flipped members,
// else nothing. Pure: the controller owns timers, debouncing and proposing.

import { formatHostPort } from "../../config/address.js";
import { memberSchema } from "../../config/file/schema.js";
import { quoteForLog } from "../../config/log-quote.js";
import type { CommandInput } from "../../config/state/commands.js";
import type { MemberSource, MemberState, PoolState } from "../../config/state/types.js";
import type { DiscoveredMember } from "../consul-members.js";
import { type GuardInput, guardHealth } from "../controller/panic-guard.js";

export interface MembershipPlan {
  /** The command to propose, or undefined when the committed state already matches. */
  readonly command: CommandInput | undefined;
  readonly panic: boolean;
  readonly wouldBeHealthy: number;
  readonly total: number;
  /** Members kept healthy by the panic guard. */
  readonly suppressed: readonly string[];
  /** Discovered members that cannot be committed (bad id, port 0, id taken by a static member): the id quoted and cut (quoteForLog), then why. */
  readonly skipped: readonly string[];
}

interface Wanted {
  id: string;
  host: string;
  port: number;
  weight: number;
  healthy: boolean;
  draining: boolean;
}

/** The sources discovery writes; static members belong to the file. */
export type DiscoverySource = Exclude<MemberSource, "static">;

/** A discovered member as the schema reads it, or why it cannot be committed. */
type Checked =
  | { readonly id: string; readonly host: string; readonly port: number; readonly weight: number }
  | string;

/**
 * Schema checks by discovered member. Watchers keep a member's object while it is unchanged
 * (parseHealthEntries reuses it), so a flush after one instance changed among 3,000 runs the
 * schema once instead of 3,000 times; objects dropped from the view drop out of the cache.
 */
const checkedMembers = new WeakMap<DiscoveredMember, Checked>();

function checkMember(d: DiscoveredMember): Checked {
  const hit = checkedMembers.get(d);
  if (hit !== undefined) return hit;
  const r = memberSchema.safeParse({
    id: d.id,
    address: formatHostPort(d.address, d.port),
    weight: d.weight,
  });
  const checked: Checked = r.success
    ? { id: r.data.id, host: r.data.address.host, port: r.data.address.port, weight: r.data.weight }
    : r.error.issues.map((i) => `${i.path.join(".") || "member"}: ${i.message}`).join("; ");
  checkedMembers.set(d, checked);
  return checked;
}

function wantedMembers(
  pool: PoolState,
  discovered: readonly DiscoveredMember[],
  skipped: string[],
  source: DiscoverySource,
): Wanted[] {
  const staticIds = new Set<string>();
  for (const m of pool.members) if (m.source !== source) staticIds.add(m.id);
  const out: Wanted[] = [];
  for (const d of discovered) {
    if (staticIds.has(d.id)) {
      skipped.push(`${quoteForLog(d.id)}: a static member of the pool has this id; the static member wins`);
      continue;
    }
    const c = checkMember(d);
    if (typeof c === "string") {
      skipped.push(`${quoteForLog(d.id)}: ${c}`);
      continue;
    }
    out.push({
      id: c.id,
      host: c.host,
      port: c.port,
      weight: c.weight,
      healthy: d.healthy && d.draining !== true,
      draining: d.draining === true,
    });
  }
  // Watchers hand their view over sorted by id: checking costs less than sorting 3,000 again.
  let sorted = true;
  for (let i = 1; i < out.length && sorted; i++) if (out[i - 1].id > out[i].id) sorted = false;
  if (!sorted) out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

/**
 * A pool's members of one source by id, per committed member list: the list is replaced, not
 * edited, when a command changes it, so a flush against an unchanged pool reuses its index.
 */
const committedBySource = new WeakMap<
  readonly MemberState[],
  Map<DiscoverySource, Map<string, MemberState>>
>();

function committedOf(pool: PoolState, source: DiscoverySource): ReadonlyMap<string, MemberState> {
  let bySource = committedBySource.get(pool.members);
  if (bySource === undefined) {
    bySource = new Map();
    committedBySource.set(pool.members, bySource);
  }
  let committed = bySource.get(source);
  if (committed === undefined) {
    committed = new Map();
    for (const m of pool.members) if (m.source === source) committed.set(m.id, m);
    bySource.set(source, committed);
  }
  return committed;
}

function sameShape(c: MemberState, w: Wanted): boolean {
  return c.address.host === w.host && c.address.port === w.port && c.weight === w.weight;
}

/**
 * Plans the commands for `poolName` from the watcher's full view. `panicThreshold` in [0, 1].
 * The panic guard counts every member the pool would have afterwards, static ones included
 * (with their committed health).
 */
export function planMembership(
  poolName: string,
  pool: PoolState,
  discovered: readonly DiscoveredMember[],
  panicThreshold: number,
  source: DiscoverySource = "consul",
): MembershipPlan {
  const skipped: string[] = [];
  const wanted = wantedMembers(pool, discovered, skipped, source);
  const committed = committedOf(pool, source);

  let reshaped = wanted.length !== committed.size;
  const guardIn: GuardInput[] = [];
  /** Index into guardIn per wanted member; -1 for a draining one (leaving on purpose, unguarded). */
  const guardAt: number[] = [];
  for (const w of wanted) {
    const c = committed.get(w.id);
    if (c === undefined || !sameShape(c, w)) reshaped = true;
    if (w.draining) {
      guardAt.push(-1);
      continue;
    }
    guardAt.push(guardIn.length);
    // A moved member is a different upstream: its committed health says nothing about it.
    const known = c !== undefined && c.address.host === w.host && c.address.port === w.port;
    guardIn.push({ id: w.id, committed: known ? c.healthy : undefined, observed: w.healthy });
  }
  for (const m of pool.members) {
    if (m.source !== source) guardIn.push({ id: m.id, committed: m.healthy, observed: m.healthy });
  }
  const g = guardHealth(guardIn, panicThreshold);
  const healthAt = (i: number): boolean => (guardAt[i] < 0 ? false : g.health[guardAt[i]]);
  const base = {
    panic: g.panic,
    wouldBeHealthy: g.wouldBeHealthy,
    total: g.total,
    suppressed: g.suppressed,
    skipped,
  };

  if (reshaped) {
    const members = wanted.map((w, i) => ({
      id: w.id,
      address: formatHostPort(w.host, w.port),
      weight: w.weight,
      healthy: healthAt(i),
    }));
    return { ...base, command: { v: 1, type: "SetMembers", pool: poolName, source, members } };
  }
  const health: { member: string; healthy: boolean }[] = [];
  for (let i = 0; i < wanted.length; i++) {
    const c = committed.get(wanted[i].id) as MemberState;
    const h = healthAt(i);
    if (c.healthy !== h) health.push({ member: wanted[i].id, healthy: h });
  }
  if (health.length === 0) return { ...base, command: undefined };
  return { ...base, command: { v: 1, type: "SetHealth", pool: poolName, health } };
}
