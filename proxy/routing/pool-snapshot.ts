// Builds a pool's immutable routing snapshot from plain data: the hash table (ring or
// Maglev, optionally wrapped with bounded load), the members in table order with their
// flags, and a precomputed eligibility mask. Built off the request path; swapped by reference.
//
// updatePoolSnapshot is the incremental form: when only flags changed (drain, health,
// breaker) or addresses, the table depends on none of them (members' ids and weights and the
// table settings are all it hashes), so the new snapshot shares the previous table and only
// the members and the mask are rebuilt: a drain at 5,000 members costs a pass over the
// members, not a ring build. The result equals a fresh build field for field (tested against
// one in test/proxy/pool-snapshot-update.test.ts). When members join or leave a ring, the
// new ring reuses the points of the members that stayed (ring/ring-update.ts).
//
// Member slots (PoolSnapshot.slots) are the one thing a fresh build does not decide alone:
// a member keeps its slot from the pool's previous snapshot, and joiners take the slots
// leavers freed (lowest first), so the request path's per-member arrays stay dense and keep
// their entries across changes (test/proxy/member-slots.test.ts).

import { formatAddress } from "../../config/address.js";
import type { UpstreamTlsConfig } from "../../config/file/upstream-tls-schema.js";
import { canonicalJson } from "../../config/state/canonical-json.js";
import type { PoolSettings } from "../../config/state/types.js";
import { withBoundedLoad } from "../../ring/bounded-load.js";
import { buildBaseTable } from "../../ring/build.js";
import { RingHash } from "../../ring/ring-hash.js";
import type { HashTable } from "../../ring/types.js";
import { IdIndex } from "./id-index.js";
import type { MemberInput, PoolSnapshot, PoolSnapshotInput, SnapshotMember } from "./types.js";

function inputsById(name: string, members: readonly MemberInput[]): Map<string, MemberInput> {
  const byInputId = new Map<string, MemberInput>();
  for (const m of members) {
    if (byInputId.has(m.id)) throw new Error(`pool "${name}": duplicate member id "${m.id}"`);
    byInputId.set(m.id, m);
  }
  return byInputId;
}

/** True when `m` already is the snapshot member `src` describes at `index` (so it can be reused). */
function sameMember(
  m: SnapshotMember,
  src: MemberInput,
  index: number,
  tls: UpstreamTlsConfig | undefined,
): boolean {
  const open = src.breakerOpen === true;
  return (
    m.index === index &&
    m.tls === tls &&
    m.address.host === src.address.host &&
    m.address.port === src.address.port &&
    m.weight === src.weight &&
    m.healthy === (src.healthy !== false) &&
    m.draining === (src.draining === true) &&
    m.breakerOpen === open &&
    m.breakerHalfOpen === (!open && src.breakerHalfOpen === true)
  );
}

function frozenAddress(a: MemberInput["address"]): MemberInput["address"] {
  if (Object.isFrozen(a) && Object.keys(a).length === 2) return a;
  return Object.freeze({ host: a.host, port: a.port });
}

function snapshotMember(
  name: string,
  src: MemberInput,
  index: number,
  tls: UpstreamTlsConfig | undefined,
  tlsTag: string,
  /** One "host:port" string per address in this build (members share their upstreams' ports). */
  hostPorts: Map<string, string>,
  /** The member's object in the previous snapshot, if any: its strings are reused when they still hold. */
  old: SnapshotMember | undefined,
): SnapshotMember {
  if (
    old !== undefined &&
    old.id === src.id &&
    old.tls === tls &&
    old.address.host === src.address.host &&
    old.address.port === src.address.port
  ) {
    // Only its index or flags changed (a join or leave before it in id order shifts every
    // later member's index): its address, "host:port" and agent key stay as they were, and a
    // reload at 5,000 members does not format them again for the half that moved.
    return Object.freeze({
      index,
      id: old.id,
      address: old.address,
      hostPort: old.hostPort,
      weight: src.weight,
      healthy: src.healthy !== false,
      draining: src.draining === true,
      breakerOpen: src.breakerOpen === true,
      breakerHalfOpen: src.breakerOpen !== true && src.breakerHalfOpen === true,
      agentKey: old.agentKey,
      tls,
    });
  }
  const text = formatAddress(src.address);
  let hostPort = hostPorts.get(text);
  if (hostPort === undefined) {
    hostPort = text;
    hostPorts.set(text, text);
  }
  return Object.freeze({
    index,
    id: src.id,
    // A frozen input address (the committed state's are) is shared, not copied: one object
    // per member fewer for V8 to mark at 10,000 members.
    address: frozenAddress(src.address),
    hostPort,
    weight: src.weight,
    healthy: src.healthy !== false,
    draining: src.draining === true,
    breakerOpen: src.breakerOpen === true,
    breakerHalfOpen: src.breakerOpen !== true && src.breakerHalfOpen === true,
    // TLS settings in the key: a reload that changes them gets new agents, an unchanged one keeps them.
    agentKey: `${name}/${src.id}@${hostPort}${tlsTag}`,
    tls,
  });
}

/** The member inputs each snapshot was assembled from, in table order (kept beside it, not in it). */
const inputsOf = new WeakMap<PoolSnapshot, readonly MemberInput[]>();

/** Snapshots with the same token have the same agent keys at the same indices. */
const agentKeysOf = new WeakMap<PoolSnapshot, object>();

/**
 * True when `b` has exactly `a`'s member agent keys (an incremental update that changed only
 * flags): the data plane then has no keep-alive agent to retire and skips its pass over
 * every member's key. False when unknown.
 */
export function sameAgentKeys(a: PoolSnapshot, b: PoolSnapshot): boolean {
  if (a === b) return true;
  const ka = agentKeysOf.get(a);
  return ka !== undefined && ka === agentKeysOf.get(b);
}

function eligibility(m: SnapshotMember): number {
  return !m.healthy || m.draining || m.breakerOpen ? 0 : m.breakerHalfOpen ? 2 : 1;
}

function assemble(
  input: PoolSnapshotInput,
  table: HashTable,
  bounded: PoolSnapshot["bounded"],
  /** The input of the member at table index i. */
  inputAt: (i: number) => MemberInput,
  prev: PoolSnapshot | null,
  /** With no `prev` (the table changed): a snapshot whose member objects may be reused by id. */
  donor: PoolSnapshot | null = null,
): PoolSnapshot {
  const { name, settings, ringVersion } = input;
  const n = table.members.length;
  const out: SnapshotMember[] = new Array(n);
  const eligible = new Uint8Array(n);
  // Same table means same ids at the same indices, so the previous id index still holds.
  // After a join or leave (a donor) the index is made after the loop, from the donor's.
  let byId: ReadonlyMap<string, number> = prev !== null ? prev.byId : new Map<string, number>();
  // With a donor: where each donor member is now (-1: left), and the joiners' indices.
  const now = prev === null && donor !== null ? new Int32Array(donor.members.length).fill(-1) : null;
  const joined: number[] = [];
  const tls = settings.tls;
  const tlsTag = tls === undefined ? "" : `+tls${canonicalJson(tls)}`;
  const inputs: MemberInput[] = new Array(n);
  // Same table: the same members at the same indices, so the same slots. Otherwise a member
  // keeps the donor's slot (-1 marks a joiner until the loop is done).
  const slots = prev !== null ? prev.slots : new Int32Array(n);
  let joiners = 0;
  const hostPorts = new Map<string, string>();
  let keysKept = prev !== null;
  // The inputs `prev` was made from: an identical input object at the same index (the
  // committed path reuses them for unchanged members) and the same TLS give the same member.
  const prevInputs = prev !== null && prev.settings.tls === tls ? inputsOf.get(prev) : undefined;
  for (let i = 0; i < n; i++) {
    const src = inputAt(i);
    inputs[i] = src;
    if (prevInputs !== undefined && prevInputs[i] === src && prev !== null) {
      // The same input object: the same member and eligibility, read from arrays without
      // touching the member objects (a drain at 5,000 members changes one of them).
      out[i] = prev.members[i];
      eligible[i] = prev.eligible[i];
      continue;
    }
    // After a join or leave the members before the change keep their index: reuse those.
    let old: SnapshotMember | undefined;
    if (prev !== null) old = prev.members[i];
    else if (donor === null) slots[i] = i;
    else {
      const j = donor.byId.get(src.id);
      if (j === undefined) {
        slots[i] = -1;
        joiners++;
        joined.push(i);
      } else {
        old = donor.members[j];
        slots[i] = donor.slots[j];
        (now as Int32Array)[j] = i;
      }
    }
    const m =
      old !== undefined && sameMember(old, src, i, tls)
        ? old
        : snapshotMember(name, src, i, tls, tlsTag, hostPorts, old);
    if (m !== old && keysKept) keysKept = old !== undefined && old.agentKey === m.agentKey;
    out[i] = m;
    if (prev === null && donor === null) (byId as Map<string, number>).set(m.id, i);
    eligible[i] = eligibility(m);
  }
  if (now !== null && donor !== null) {
    const delta = IdIndex.after(out, donor.byId, now, joined);
    if (delta !== null) byId = delta;
    else for (let i = 0; i < n; i++) (byId as Map<string, number>).set(out[i].id, i);
  }
  if (joiners > 0) giveFreeSlots(slots, joiners, donor as PoolSnapshot);
  const snapshot: PoolSnapshot = Object.freeze({
    name,
    settings,
    ringVersion,
    table,
    bounded,
    members: Object.freeze(out),
    eligible,
    probe: input.probe ?? null,
    byId,
    slots,
    retryMethods: new Set(settings.retry.methods.map((m) => m.toUpperCase())),
  });
  inputsOf.set(snapshot, inputs);
  agentKeysOf.set(snapshot, (keysKept && prev !== null && agentKeysOf.get(prev)) || {});
  return snapshot;
}

/**
 * Gives each joiner (slot -1) the lowest slot no member holds: first the slots leavers of
 * `donor` freed, then new ones. The slots stay below max(member count, donor's highest + 1).
 */
function giveFreeSlots(slots: Int32Array, joiners: number, donor: PoolSnapshot): void {
  let limit = slots.length;
  for (let j = 0; j < donor.slots.length; j++) if (donor.slots[j] >= limit) limit = donor.slots[j] + 1;
  const taken = new Uint8Array(limit);
  for (let i = 0; i < slots.length; i++) if (slots[i] >= 0) taken[slots[i]] = 1;
  let next = 0;
  for (let i = 0; i < slots.length && joiners > 0; i++) {
    if (slots[i] >= 0) continue;
    while (taken[next] === 1) next++;
    slots[i] = next++;
    joiners--;
  }
}

/** True when the ids strictly increase (no duplicates, already in the table's id order). */
function inIdOrder(members: readonly MemberInput[]): boolean {
  for (let i = 1; i < members.length; i++) if (!(members[i - 1].id < members[i].id)) return false;
  return true;
}

/** Builds a frozen PoolSnapshot; throws (RingConfigError or Error) on invalid input. */
export function buildPoolSnapshot(input: PoolSnapshotInput): PoolSnapshot {
  return build(input, undefined, null);
}

/**
 * `previousRing`: a ring of mostly the same members whose points a ring build may reuse;
 * `donor`: the pool's previous snapshot, whose unchanged member objects may be reused.
 */
function build(
  input: PoolSnapshotInput,
  previousRing: RingHash | undefined,
  donor: PoolSnapshot | null,
): PoolSnapshot {
  const { name, settings, members } = input;
  // Committed pools list members in id order, the table's: then input i is table member i,
  // and no Map of every input is built per reload.
  const byInputId = inIdOrder(members) ? null : inputsById(name, members);
  const table: HashTable = buildBaseTable(
    {
      algorithm: settings.algorithm,
      // The table reads only id and weight and keeps its own frozen copies (canonicalMembers).
      members,
      pointsPerWeight: settings.pointsPerWeight,
      tableSize: settings.tableSize,
    },
    previousRing,
  );
  const bounded =
    settings.balanceFactor === undefined
      ? null
      : withBoundedLoad(table, { balanceFactor: settings.balanceFactor });
  const inputAt =
    byInputId === null
      ? (i: number) => members[i]
      : (i: number) => byInputId.get(table.members[i].id) as MemberInput;
  return assemble(input, table, bounded, inputAt, null, donor);
}

/** The settings a pool's table is built from; any other setting may change without a rebuild. */
function sameTableSettings(a: PoolSettings, b: PoolSettings): boolean {
  if (a.algorithm !== b.algorithm || a.balanceFactor !== b.balanceFactor) return false;
  return a.algorithm === "maglev" ? a.tableSize === b.tableSize : a.pointsPerWeight === b.pointsPerWeight;
}

/**
 * The inputs in `prev`'s table order when `prev`'s table is exactly the table `members` (ids
 * and weights) would build; null otherwise (a member joined, left, was reweighted or repeated).
 */
function inTableOrder(prev: PoolSnapshot, members: readonly MemberInput[]): readonly MemberInput[] | null {
  const tm = prev.table.members;
  if (tm.length !== members.length) return null;
  // Committed pools list members sorted by id, as tables do: then the order already matches.
  // An input object `prev` was assembled from, at the same index, matches without a look
  // inside it (pointer comparisons over two arrays).
  const prevInputs = inputsOf.get(prev);
  let aligned = true;
  for (let i = 0; i < tm.length && aligned; i++) {
    const m = members[i];
    aligned = prevInputs?.[i] === m || (tm[i].id === m.id && tm[i].weight === m.weight);
  }
  if (aligned) return members;
  const ordered: MemberInput[] = new Array(tm.length);
  for (const m of members) {
    const i = prev.byId.get(m.id);
    if (i === undefined || ordered[i] !== undefined || tm[i].weight !== m.weight) return null;
    ordered[i] = m;
  }
  return ordered;
}

/**
 * The snapshot for `input` given the pool's previous one: shares `prev`'s table (and bounded
 * wrapper, id index and unchanged member objects) when the table would come out the same,
 * else builds afresh. Either way the result equals buildPoolSnapshot(input), but for `slots`
 * (carried over from `prev` by member id; see the top of this file).
 */
export function updatePoolSnapshot(prev: PoolSnapshot | undefined, input: PoolSnapshotInput): PoolSnapshot {
  if (prev === undefined || prev.name !== input.name) return buildPoolSnapshot(input);
  // New table settings: a new table, but the members (and their slots) carry over.
  if (!sameTableSettings(prev.settings, input.settings)) return build(input, undefined, prev);
  const ordered = inTableOrder(prev, input.members);
  if (ordered === null) {
    // Members joined or left: a ring keeps the points of those who stayed (ring-update.ts).
    const inner = prev.bounded !== null ? prev.bounded.inner : prev.table;
    return build(input, inner instanceof RingHash ? inner : undefined, prev);
  }
  return assemble(input, prev.table, prev.bounded, (i) => ordered[i], prev);
}
