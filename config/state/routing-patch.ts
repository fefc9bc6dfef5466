// A reload that changes a few members of a big pool proposes only those members: a
// PatchRouting command (member splices per pool, plus the digest of the committed routing it
// was computed against) instead of a SetRouting carrying all 5,000 members. That keeps the
// encoding, the validation, the Raft entry (its write, fsync and the copy the in-memory log
// keeps until the next snapshot) and the garbage of a reload in proportion to the change.
//
// Exactness: apply rebuilds the full routing from the committed one and the splices, then
// runs the very transition SetRouting runs, so the state is the one a SetRouting of the same
// file gives, bit for bit (test/config/routing-patch.test.ts compares snapshots over seeded
// random reload sequences). A patch whose base digest is not the committed routing's (another
// reload got in between, or a lagging follower proposed it) is refused with
// `routing_changed`, and the reloader then proposes the full SetRouting.

import type { MemberConfig, RoutingConfig } from "../file/schema.js";
import { canonicalEqual } from "./canonical-json.js";
import type { CommandInput, CommandOf } from "./commands.js";
import { membersDigest, rememberMembersDigest, routingDigest, splicedDigest } from "./routing-digest.js";

/** Above this many changed members (and above 1/8 of the pool) a SetRouting is proposed instead. */
const MAX_CHANGED = 256;

type PoolConfig = RoutingConfig["pools"][string];

/** A defined own property: a pool named "__proto__" stays a pool (an assignment would set the prototype). */
function setOwn<T>(obj: Record<string, T>, name: string, value: T): void {
  Object.defineProperty(obj, name, { value, enumerable: true, writable: true, configurable: true });
}

/** Whether two pool configs are equal apart from their member lists. */
function sameSettings(a: PoolConfig, b: PoolConfig): boolean {
  return canonicalEqual({ ...a, members: undefined }, { ...b, members: undefined });
}

/**
 * The one splice turning `a` into `b` (common prefix and suffix kept), or null when the lists
 * are equal. Members compare by canonical JSON, so an unchanged member costs a short walk.
 */
function splice(a: readonly MemberConfig[], b: readonly MemberConfig[]) {
  const min = Math.min(a.length, b.length);
  let p = 0;
  while (p < min && canonicalEqual(a[p], b[p])) p++;
  if (p === a.length && p === b.length) return null;
  let s = 0;
  while (s < min - p && canonicalEqual(a[a.length - 1 - s], b[b.length - 1 - s])) s++;
  return { at: p, remove: a.length - p - s, add: b.slice(p, b.length - s) };
}

/**
 * The PatchRouting that turns the committed `base` into `next` (a file's routing), or null
 * when a SetRouting should be proposed: routes, pool names or pool settings differ, or too
 * many members changed for a patch to be worth it.
 */
export function routingPatch(base: RoutingConfig, next: RoutingConfig): CommandInput | null {
  if (!canonicalEqual(base.routes, next.routes)) return null;
  const names = Object.keys(next.pools);
  if (names.length !== Object.keys(base.pools).length) return null;
  const pools: Record<string, { edits: Array<{ at: number; remove: number; add: MemberConfig[] }> }> = {};
  let changed = 0;
  let size = 0;
  for (const name of names) {
    if (!Object.hasOwn(base.pools, name)) return null;
    const a = base.pools[name];
    const b = next.pools[name];
    if (!sameSettings(a, b)) return null;
    size += b.members.length;
    const edit = a.members === b.members ? null : splice(a.members, b.members);
    if (edit === null) continue;
    changed += edit.remove + edit.add.length;
    if (changed > MAX_CHANGED) return null;
    setOwn(pools, name, { edits: [edit] });
  }
  if (changed > Math.max(1, size / 8)) return null;
  return { v: 1, type: "PatchRouting", base: routingDigest(base), pools };
}

export type PatchResult =
  | { ok: true; routing: RoutingConfig }
  | { ok: false; code: "routing_changed" | "invalid_command"; error: string };

/**
 * The routing `cmd` makes of the committed `routing`: every pool's member splices applied in
 * order. Checks what the file schema would have checked of the whole list (unique ids, a pool
 * keeps members or discovery) for the spliced members only; the table limits are checked by
 * the SetRouting transition the result goes through.
 */
export function patchedRouting(routing: RoutingConfig | null, cmd: CommandOf<"PatchRouting">): PatchResult {
  if (routing === null)
    return { ok: false, code: "routing_changed", error: "no routing is committed yet; nothing to patch" };
  const digest = routingDigest(routing);
  if (digest !== cmd.base)
    return {
      ok: false,
      code: "routing_changed",
      error: `the committed routing (${digest}) is not the patch's base (${cmd.base}): propose the whole routing`,
    };
  const pools: Record<string, PoolConfig> = { ...routing.pools };
  for (const name of Object.keys(cmd.pools)) {
    if (!Object.hasOwn(routing.pools, name))
      return { ok: false, code: "invalid_command", error: `PatchRouting: unknown pool "${name}"` };
    const pool = routing.pools[name];
    let members: readonly MemberConfig[] = pool.members;
    let d = membersDigest(members);
    for (const [k, e] of cmd.pools[name].edits.entries()) {
      const where = `PatchRouting: pools.${name}.edits[${k}]`;
      if (e.at + e.remove > members.length)
        return {
          ok: false,
          code: "invalid_command",
          error: `${where}: splice ${e.at}+${e.remove} is past the ${members.length} members`,
        };
      // The added ids against each other, then one pass of lookups over the members that
      // stay (no set of the whole pool per patch: 5,000 insertions of garbage per reload).
      const added = new Set<string>();
      for (const m of e.add) {
        if (added.has(m.id))
          return { ok: false, code: "invalid_command", error: `${where}: duplicate member id "${m.id}"` };
        added.add(m.id);
      }
      for (let i = 0; i < members.length; i++) {
        if (i >= e.at && i < e.at + e.remove) continue;
        if (added.has(members[i].id))
          return {
            ok: false,
            code: "invalid_command",
            error: `${where}: duplicate member id "${members[i].id}"`,
          };
      }
      d = splicedDigest(d, members, e.at, e.remove, e.add);
      const spliced = members.slice();
      spliced.splice(e.at, e.remove, ...e.add);
      members = spliced;
    }
    if (members.length === 0 && pool.discovery === undefined)
      return {
        ok: false,
        code: "invalid_command",
        error: `PatchRouting: pool "${name}" would have no members and no discovery`,
      };
    rememberMembersDigest(members, d);
    setOwn(pools, name, { ...pool, members });
  }
  return { ok: true, routing: { ...routing, pools } };
}
