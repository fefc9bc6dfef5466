// A reload that changes only a few member lines of a big pool, loaded from the previous
// accepted load instead of from scratch: parsing and validating a 5,000-member file cost a
// reload tens of ms (YAML parse, then the schema over every member) for one changed line.
//
// It takes the narrowest case and declines (null: the caller loads the file the full way)
// anything else. The lines that differ from the last accepted text (one contiguous run,
// found by common leading and trailing lines) must all be one-line members `- { ... }` in
// the block sequence directly under `members:` of a pool directly under a top-level `pools:`,
// the run of member lines around them unbroken (no blank or comment lines, no multi-line
// items), so the changed lines are exactly members `at .. at + remove` of that pool, and
// that pool's previous member count must equal the old run's line count. Each new line is
// parsed on its own (fast-yaml.ts's core rules) and validated with the member schema; the
// pool-level rules (unique ids, the table limits) are checked over the new list. The path,
// the environment (for `${VAR}`) and the absence of files the load checks (listen.tls) must
// be unchanged. Everything outside the changed lines is byte-identical to a text that was
// parsed and validated in full, so the result is that of a full load of the new text;
// test/config/incremental-load.test.ts compares the two over seeded random edits.

import { fastParseSnippet } from "./fast-yaml.js";
import { type MemberConfig, memberSchema, type ShardgateConfig } from "./schema.js";
import { tableLimitError } from "./table-limits.js";
import { checkConfigText } from "./text-limits.js";

export interface AcceptedLoad {
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
  readonly lines: readonly string[];
  readonly config: ShardgateConfig;
}

/** Keeps what the next incremental load compares against (copies `env`). */
export function acceptedLoad(
  path: string,
  env: NodeJS.ProcessEnv,
  text: string,
  config: ShardgateConfig,
): AcceptedLoad {
  return { path, env: { ...env }, lines: text.split("\n"), config };
}

/** A one-line flow-mapping member: no nesting, anchors, aliases, tags, comments, single quotes or `${`. */
const ITEM = /^( +)- (\{[^{}[\]&*!?|>%@`'#$<\\\t]*\})[ ]*$/;
const MEMBERS_KEY = /^( +)members:[ ]*$/;
const POOL_KEY = /^( +)([A-Za-z0-9][A-Za-z0-9_.:-]{0,127}):[ ]*$/;
const POOLS_KEY = /^pools:[ ]*$/;

function indentOf(line: string): number {
  let i = 0;
  while (i < line.length && line.charCodeAt(i) === 32) i++;
  return i;
}

/** Blank or comment-only (tabs count as content: YAML forbids them in indentation). */
function isFiller(line: string): boolean {
  const t = line.trimStart();
  return t === "" || t.startsWith("#");
}

function itemAt(line: string | undefined, indent: number): string | null {
  if (line === undefined) return null;
  const m = ITEM.exec(line);
  return m !== null && m[1].length === indent ? m[2] : null;
}

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

  // The changed lines, old and new, are member lines of one indentation.
  const probe = p < oldEnd ? old[p] : lines[p];
  const m0 = ITEM.exec(probe ?? "");
  if (m0 === null) return null;
  const indent = m0[1].length;
  for (let i = p; i < oldEnd; i++) if (itemAt(old[i], indent) === null) return null;
  const added: string[] = [];
  for (let i = p; i < newEnd; i++) {
    const item = itemAt(lines[i], indent);
    if (item === null) return null;
    added.push(item);
  }

  // The unbroken run of member lines around them in the old text, right under `members:`.
  let start = p;
  while (start > 0 && itemAt(old[start - 1], indent) !== null) start--;
  let end = oldEnd;
  while (end < old.length && itemAt(old[end], indent) !== null) end++;
  const membersLine = MEMBERS_KEY.exec(old[start - 1] ?? "");
  if (membersLine === null || membersLine[1].length >= indent || start === end) return null;
  const keyIndent = membersLine[1].length;
  // The run ends at the end of the text or at content indented at most like `members:`.
  if (end < old.length && (isFiller(old[end]) || indentOf(old[end]) > keyIndent)) return null;

  // members: -> its pool's key -> top-level pools:.
  const poolAt = parentLine(old, start - 1, keyIndent);
  const poolKey = poolAt < 0 ? null : POOL_KEY.exec(old[poolAt]);
  if (poolKey === null) return null;
  const poolsAt = parentLine(old, poolAt, poolKey[1].length);
  if (poolsAt < 0 || !POOLS_KEY.test(old[poolsAt])) return null;
  const name = poolKey[2];
  if (!Object.hasOwn(prev.config.pools, name)) return null;
  const pool = prev.config.pools[name];
  if (pool.members.length !== end - start) return null;

  // The new members, each parsed and validated on its own; then the pool-level rules.
  const fresh: MemberConfig[] = [];
  for (const item of added) {
    const value = fastParseSnippet(item);
    if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    const r = memberSchema.safeParse(value);
    if (!r.success) return null;
    fresh.push(r.data);
  }
  const at = p - start;
  const members = pool.members.slice(0, at);
  for (const m of fresh) members.push(m);
  for (let i = oldEnd - start; i < pool.members.length; i++) members.push(pool.members[i]);
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
  return { ...prev.config, pools };
}
