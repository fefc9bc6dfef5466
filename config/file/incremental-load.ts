// A reload that changes only a few member lines of a big pool, loaded from the previous
// accepted load instead of from scratch: parsing and validating a 5,000-member file cost a
// reload tens of ms (YAML parse, then the schema over every member) for one changed line.
//
// It takes edits inside one pool's `members:` block sequence and declines (null: the caller
// loads the file the full way) anything else. The lines that differ from the last accepted
// text (one contiguous run, found by common leading and trailing lines) must lie inside the
// list under the nearest `members:` above them, that key directly under a pool directly under
// a top-level `pools:`, in both texts. member-list-lines.ts splits the list into items by
// indentation (items of any number of lines, block or flow style; blank and comment lines
// anywhere) and declines lists whose lines are not self-contained (anchors, aliases, tags,
// block scalars, `${...}`, multi-line quotes or flow collections, tabs) or whose item
// indentation changed. Items whose text is unchanged keep their member (the common leading
// and trailing items); each other new item is parsed on its own (fast-yaml.ts's core rules)
// and validated with the member schema; the pool-level rules (unique ids, the table limits)
// are checked over the new list. An invalid edit is declined, so its errors are the full
// load's. The path, the environment (for `${VAR}`) and the absence of files the load checks
// (listen.tls) must be unchanged. Everything outside the list is byte-identical to a text
// that was parsed and validated in full, and a self-contained item's value is that of its
// own text, so the result is that of a full load of the new text;
// test/config/incremental-load.test.ts compares the two over seeded random edits.

import { fastParseSnippet } from "./fast-yaml.js";
import { indentOf, isFiller, itemText, type ListLines, listLines, sameItem } from "./member-list-lines.js";
import { type MemberConfig, memberSchema, type ShardgateConfig } from "./schema.js";
import { tableLimitError } from "./table-limits.js";
import { checkConfigText } from "./text-limits.js";

export interface AcceptedLoad {
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
  readonly lines: readonly string[];
  readonly config: ShardgateConfig;
  /** The member list an incremental load split this text into (line of its `members:`), if any. */
  readonly list: { readonly membersAt: number; readonly lines: ListLines } | null;
}

/**
 * The text and member list each config this module returned was loaded from, so the next load
 * from that text does not scan its 5,000 items again (weak: configs the caller drops go with it).
 */
const splitLists = new WeakMap<ShardgateConfig, { text: string; membersAt: number; lines: ListLines }>();

/** Keeps what the next incremental load compares against (copies `env`). */
export function acceptedLoad(
  path: string,
  env: NodeJS.ProcessEnv,
  text: string,
  config: ShardgateConfig,
): AcceptedLoad {
  const split = splitLists.get(config);
  const list = split !== undefined && split.text === text ? split : null;
  return { path, env: { ...env }, lines: text.split("\n"), config, list };
}

const MEMBERS_KEY = /^( +)members:[ ]*(?:#.*)?$/;
const POOL_KEY = /^( +)([A-Za-z0-9][A-Za-z0-9_.:-]{0,127}):[ ]*(?:#.*)?$/;
const POOLS_KEY = /^pools:[ ]*(?:#.*)?$/;

function sameEnv(a: NodeJS.ProcessEnv, b: NodeJS.ProcessEnv): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
  return true;
}

/** The first non-filler line above `from` indented less than `indent`, or -1. */
function parentLine(lines: readonly string[], from: number, indent: number): number {
  for (let i = from - 1; i >= 0; i--) {
    if (isFiller(lines[i])) continue;
    if (indentOf(lines[i]) < indent) return i;
  }
  return -1;
}

/** The config of `text`, loaded from `prev`; null when this case is not one it takes. */
export function incrementalLoad(
  prev: AcceptedLoad,
  path: string,
  env: NodeJS.ProcessEnv,
  text: string,
): ShardgateConfig | null {
  if (path !== prev.path || !sameEnv(prev.env, env) || prev.config.listen.tls !== undefined) return null;
  if (checkConfigText(text) !== null) return null;
  const old = prev.lines;
  const lines = text.split("\n");
  const min = Math.min(old.length, lines.length);
  let p = 0;
  while (p < min && old[p] === lines[p]) p++;
  if (p === old.length && p === lines.length) return prev.config;
  let s = 0;
  while (s < min - p && old[old.length - 1 - s] === lines[lines.length - 1 - s]) s++;
  const oldEnd = old.length - s;
  const newEnd = lines.length - s;

  // The nearest `members:` above the change (the lines above it are the same in both texts);
  // its list, split into items, must hold the whole change in both texts, indented alike.
  let membersAt = p - 1;
  while (membersAt >= 0 && !MEMBERS_KEY.test(old[membersAt])) membersAt--;
  if (membersAt < 0) return null;
  const keyIndent = indentOf(old[membersAt]);
  const was = prev.list?.membersAt === membersAt ? prev.list.lines : listLines(old, membersAt + 1, keyIndent);
  if (was === null || oldEnd > was.end) return null;
  // Lines outside the change are the old list's, checked just above or when it was split.
  const now = listLines(lines, membersAt + 1, keyIndent, p, newEnd);
  if (now === null || newEnd > now.end || now.indent !== was.indent) return null;
  if (now.end - newEnd !== was.end - oldEnd) return null;

  // members: -> its pool's key -> top-level pools:.
  const poolAt = parentLine(old, membersAt, keyIndent);
  const poolKey = poolAt < 0 ? null : POOL_KEY.exec(old[poolAt]);
  if (poolKey === null) return null;
  const poolsAt = parentLine(old, poolAt, poolKey[1].length);
  if (poolsAt < 0 || !POOLS_KEY.test(old[poolsAt])) return null;
  const name = poolKey[2];
  if (!Object.hasOwn(prev.config.pools, name)) return null;
  const pool = prev.config.pools[name];
  const oldCount = was.starts.length;
  const newCount = now.starts.length;
  if (pool.members.length !== oldCount) return null;

  // Items with the same text keep their member: the common leading and trailing items.
  const most = Math.min(oldCount, newCount);
  let at = 0;
  while (at < most && sameItem(old, was, at, lines, now, at)) at++;
  let tail = 0;
  while (tail < most - at && sameItem(old, was, oldCount - 1 - tail, lines, now, newCount - 1 - tail)) tail++;
  if (at + tail === oldCount && at + tail === newCount) {
    splitLists.set(prev.config, { text, membersAt, lines: now }); // blank or comment lines only
    return prev.config;
  }

  // The new members, each parsed and validated on its own; then the pool-level rules.
  const fresh: MemberConfig[] = [];
  for (let i = at; i < newCount - tail; i++) {
    const value = fastParseSnippet(itemText(lines, now, i));
    if (!Array.isArray(value) || value.length !== 1) return null;
    const item: unknown = value[0];
    if (typeof item !== "object" || item === null || Array.isArray(item)) return null;
    const r = memberSchema.safeParse(item);
    if (!r.success) return null;
    fresh.push(r.data);
  }
  const members = pool.members.slice(0, at);
  for (const m of fresh) members.push(m);
  for (let i = oldCount - tail; i < oldCount; i++) members.push(pool.members[i]);
  if (members.length === 0) return null;
  const ids = new Set<string>();
  for (const m of members) {
    if (ids.has(m.id)) return null;
    ids.add(m.id);
  }
  if (tableLimitError(pool, members) !== undefined) return null;
  const pools: ShardgateConfig["pools"] = { ...prev.config.pools };
  Object.defineProperty(pools, name, {
    value: { ...pool, members },
    enumerable: true,
    writable: true,
    configurable: true,
  });
  const config = { ...prev.config, pools };
  splitLists.set(config, { text, membersAt, lines: now });
  return config;
}
