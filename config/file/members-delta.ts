// What the load worker sends the main thread after a reload: the parsed config with the big
// member lists replaced by a splice against the config it sent last. Posting the whole config
// structured-cloned a 5,000-member pool twice (serialized in the worker, 5,000 objects made
// on the main thread, a few ms each) and left all of it as main-thread garbage on every
// reload, though a reload usually changes one member. The main thread rebuilds each list from
// its copy of the previous config, so unchanged members keep their object identity there too.
//
// Both sides must hold the same previous config: the worker diffs only against the config of
// the last load it answered, and says which (`base`); the main thread applies a delta only to
// the config it received with that id, and otherwise reports the worker out of step.

import { canonicalEqual } from "../state/canonical-json.js";
import type { MemberConfig, ShardgateConfig } from "./schema.js";

/** Member lists shorter than this are sent whole: a splice saves nothing there. */
const MIN_DELTA_MEMBERS = 64;

export interface MembersSplice {
  readonly pool: string;
  readonly at: number;
  readonly remove: number;
  readonly add: MemberConfig[];
}

export interface MembersDelta {
  /** The new config; the spliced pools' member lists are empty (rebuilt from `splices`). */
  readonly config: ShardgateConfig;
  readonly splices: MembersSplice[];
}

/** A defined own property: assignment to a key such as "__proto__" would set the prototype. */
function setOwn<T>(obj: Record<string, T>, name: string, value: T): void {
  Object.defineProperty(obj, name, { value, enumerable: true, writable: true, configurable: true });
}

/** The one splice turning `a` into `b` (common prefix and suffix kept). */
function splice(pool: string, a: readonly MemberConfig[], b: readonly MemberConfig[]): MembersSplice {
  const min = Math.min(a.length, b.length);
  let p = 0;
  while (p < min && canonicalEqual(a[p], b[p])) p++;
  let s = 0;
  while (s < min - p && canonicalEqual(a[a.length - 1 - s], b[b.length - 1 - s])) s++;
  return { pool, at: p, remove: a.length - p - s, add: b.slice(p, b.length - s) };
}

/**
 * `next` as a delta against `prev`, or null when nothing is worth splicing (send `next`
 * whole). Pools new in `next`, or with short member lists, are sent whole within the delta.
 */
export function membersDelta(prev: ShardgateConfig, next: ShardgateConfig): MembersDelta | null {
  const splices: MembersSplice[] = [];
  const pools: ShardgateConfig["pools"] = { ...next.pools };
  for (const name of Object.keys(next.pools)) {
    const b = next.pools[name].members;
    if (b.length < MIN_DELTA_MEMBERS || !Object.hasOwn(prev.pools, name)) continue;
    const s = splice(name, prev.pools[name].members, b);
    // A splice bigger than half the new list is no cheaper to clone than the list.
    if (s.add.length > b.length / 2) continue;
    splices.push(s);
    setOwn(pools, name, { ...next.pools[name], members: [] });
  }
  return splices.length === 0 ? null : { config: { ...next, pools }, splices };
}

/**
 * The config a delta stands for, given the `prev` it was computed against; a string saying
 * what does not fit when `prev` is not that config (the caller treats the worker as broken).
 */
export function applyMembersDelta(
  prev: ShardgateConfig,
  delta: MembersDelta,
): { ok: true; config: ShardgateConfig } | { ok: false; error: string } {
  const pools: ShardgateConfig["pools"] = { ...delta.config.pools };
  for (const s of delta.splices) {
    if (!Object.hasOwn(prev.pools, s.pool) || !Object.hasOwn(pools, s.pool))
      return { ok: false, error: `members delta names pool "${s.pool}", unknown on one side` };
    const base = prev.pools[s.pool].members;
    if (s.at < 0 || s.remove < 0 || s.at + s.remove > base.length)
      return { ok: false, error: `members delta of pool "${s.pool}" is past its ${base.length} members` };
    const members = base.slice(0, s.at);
    for (const m of s.add) members.push(m);
    for (let i = s.at + s.remove; i < base.length; i++) members.push(base[i]);
    setOwn(pools, s.pool, { ...pools[s.pool], members });
  }
  return { ok: true, config: { ...delta.config, pools } };
}
