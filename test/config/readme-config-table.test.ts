// The README's configuration reference (its `| key | default | notes |` tables) against the
// schema, the one place that says which keys exist and what they default to. A row names its
// fields as `prefix {a, b, c {d, e}, list[]}` (or `x` / `y`); its default cell gives one value
// per field, one per braced group (`3 / 2s` for a group's fields, or one value for all of
// them), or one value for the whole row. A value is parsed by the field's own schema (`5s`,
// `16kb`, `200-399`) and must equal the schema's default; `-`, `off`, `none` or an empty cell
// say the schema has none, and `= ...` that the value comes from another setting.
// Found by it: fields the tables did not list (pools.P.passiveEjection, which nothing reads,
// listen.tls.sni, listen.proxyProtocol, pools.P.tls, workers, metrics.memberHistograms, the
// retry budget, breaker.enabled, routes[].cookie.secure, cluster.joinTimeout, ...). Checked:
// a default changed in a row (30s -> 20s) or a field name misspelt makes it fail. A third test
// puts a mapping in every field: each is refused with an error at that field's path (all 164
// were; checked by letting tracing.serviceName take anything).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse, stringify } from "yaml";
import { parseConfig } from "../../config/file/load.js";
import { configSchema } from "../../config/file/schema.js";

/** The parts of zod's internal definition this walk reads. */
interface ZodNode {
  _zod: {
    def: {
      type: string;
      innerType?: ZodNode;
      in?: ZodNode;
      shape?: Record<string, ZodNode>;
      valueType?: ZodNode;
      element?: ZodNode;
      defaultValue?: unknown;
    };
  };
  safeParse(value: unknown): { success: boolean; data?: unknown };
}

interface SchemaLeaf {
  /** The field's schema inside its optional/default wrappers: what parses a written value. */
  schema: ZodNode;
  /** The schema's default as written by `.default()` / `.prefault()`; absent = none. */
  default?: { value: unknown; prefault: boolean };
}

/**
 * Fields whose default the code applies, not the schema (which leaves them absent on purpose:
 * a replicated pool's settings must not change when a build adds a default). The README says
 * what the code does there, in words the schema cannot check.
 */
const CODE_APPLIED = new Set([
  "listen.maxUpstreamPerClient", // data-plane.ts: a quarter of a member address's 256 connections
  "pools.P.protocol", // absent = http1
  "limits.memory", // cgroup memory.max, else V8's heap limit (memory-limit.ts)
  "redis.maxReplyBytes", // 4mb, or what the largest route's cache needs
]);

function schemaLeaves(): Map<string, SchemaLeaf> {
  const out = new Map<string, SchemaLeaf>();
  const walk = (node: ZodNode, path: string): void => {
    let s = node;
    let dflt: SchemaLeaf["default"];
    for (;;) {
      const d = s._zod.def;
      if (d.type === "optional" || d.type === "nullable") s = d.innerType as ZodNode;
      else if (d.type === "default" || d.type === "prefault") {
        dflt ??= { value: d.defaultValue, prefault: d.type === "prefault" };
        s = d.innerType as ZodNode;
      } else break;
    }
    const valueSchema = s;
    // Refinements and transforms wrap an object in a pipe: its shape is on the way in.
    while (s._zod.def.type === "pipe") s = s._zod.def.in as ZodNode;
    const d = s._zod.def;
    const at = (k: string) => (path === "" ? k : `${path}.${k}`);
    if (d.type === "object" && d.shape !== undefined) {
      for (const [k, v] of Object.entries(d.shape)) walk(v, at(k));
    } else if (d.type === "record" && d.valueType !== undefined) {
      walk(d.valueType, `${path}.P`);
    } else if (d.type === "array" && d.element !== undefined && isObject(d.element)) {
      walk(d.element, `${path}[]`);
    } else {
      out.set(path, { schema: valueSchema, default: dflt });
    }
  };
  walk(configSchema as unknown as ZodNode, "");
  return out;
}

function isObject(node: ZodNode): boolean {
  let s = node;
  for (;;) {
    const d = s._zod.def;
    if (d.type === "object") return true;
    const next = d.innerType ?? (d.type === "pipe" ? d.in : undefined);
    if (next === undefined) return false;
    s = next;
  }
}

/** Splits at top-level commas: not inside {}, [], () or backticks. */
function splitTop(text: string, sep = ","): string[] {
  const parts: string[] = [];
  let depth = 0;
  let tick = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "`") tick = !tick;
    else if (!tick && "{[(".includes(c)) depth++;
    else if (!tick && "}])".includes(c)) depth--;
    else if (!tick && depth === 0 && text.startsWith(sep, i)) {
      parts.push(text.slice(start, i).trim());
      start = i + sep.length;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/** One top-level field (or braced group) of a row and the leaf paths it names. */
interface Item {
  leaves: string[];
}

/** `name`, `list[]`, `a[].b`, `optional?`, `store: redis` (a fixed value), each with an optional `{...}` group. */
const ITEM = /^((?:[A-Za-z0-9_.]|\[\](?=\.))+)(\[\])?\??(?::[^{]*)?(?:\s*\{(.*)\})?$/s;

function itemLeaves(text: string, prefix: string, where: string): string[] {
  const m = ITEM.exec(text.trim());
  assert.ok(m !== null, `${where}: cannot read the field "${text}"`);
  const [, name, list, braced] = m;
  const path = prefix === "" ? name : `${prefix}.${name}`;
  if (braced === undefined) return [path];
  const inner = list === undefined ? path : `${path}[]`;
  return splitTop(braced).flatMap((t) => itemLeaves(t, inner, where));
}

interface Row {
  line: number;
  items: Item[];
  defaults: string[];
}

function readmeRows(): Row[] {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8").split("\n");
  const rows: Row[] = [];
  for (let i = 0; i < readme.length; i++) {
    if (!/^\| key \| default \| notes \|$/.test(readme[i])) continue;
    for (let j = i + 2; j < readme.length && readme[j].startsWith("|"); j++) {
      const [, key, dflt] = readme[j].split("|").map((c) => c.trim());
      const where = `README.md:${j + 1}`;
      const spans = [...key.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      assert.ok(spans.length > 0, `${where}: no field in the key cell "${key}"`);
      if (spans.length > 1) {
        // `a` / `b`: separate fields, their defaults `x` / `y`.
        rows.push({
          line: j + 1,
          items: spans.map((s) => ({ leaves: itemLeaves(s, "", where) })),
          defaults: dflt.split(" / ").map((d) => d.trim()),
        });
        continue;
      }
      const m = /^([A-Za-z0-9_.[\]]+?)\s*\{(.*)\}$/s.exec(spans[0]);
      const items =
        m === null
          ? [{ leaves: itemLeaves(spans[0], "", where) }]
          : splitTop(m[2]).map((t) => ({ leaves: itemLeaves(t, m[1], where) }));
      rows.push({ line: j + 1, items, defaults: splitTop(dflt) });
    }
  }
  return rows;
}

/** Each leaf of a row with the default text the row gives it. */
function rowDefaults(row: Row): Array<[string, string]> {
  const leaves = row.items.flatMap((i) => i.leaves);
  const d = row.defaults;
  if (leaves.length === 1) return [[leaves[0], d.join(", ")]];
  if (d.length === leaves.length) return leaves.map((l, i) => [l, d[i]]);
  if (d.length === row.items.length) {
    return row.items.flatMap((item, i) => {
      const group = d[i].split(" / ").map((x) => x.trim());
      return item.leaves.map((l, k): [string, string] => [
        l,
        group.length === item.leaves.length ? group[k] : d[i],
      ]);
    });
  }
  assert.equal(d.length, 1, `README.md:${row.line}: ${d.length} defaults for ${leaves.length} fields`);
  return leaves.map((l) => [l, d[0]]);
}

/** What a default cell's text says: none, derived from another setting, or a value. */
function readDefault(
  text: string,
): { kind: "none" } | { kind: "derived" } | { kind: "value"; value: unknown } {
  const t = text
    .replace(/`/g, "")
    .replace(/\([^)]*\)/g, "")
    .trim();
  if (["", "-", "off", "none"].includes(t)) return { kind: "none" };
  if (t.startsWith("=")) return { kind: "derived" };
  try {
    const v = parse(t) as unknown;
    // `sg:` reads as a mapping, `*` as an alias: they are meant as text.
    return { kind: "value", value: v !== null && typeof v === "object" && !Array.isArray(v) ? t : v };
  } catch {
    return { kind: "value", value: t };
  }
}

test("the README's config tables list exactly the schema's fields", () => {
  const schema = schemaLeaves();
  const listed = new Map<string, number>();
  for (const row of readmeRows())
    for (const item of row.items)
      for (const leaf of item.leaves) {
        assert.ok(
          !listed.has(leaf),
          `README.md:${row.line}: ${leaf} is listed twice (also line ${listed.get(leaf)})`,
        );
        listed.set(leaf, row.line);
      }
  const notInSchema = [...listed]
    .filter(([p]) => !schema.has(p))
    .map(([p, line]) => `${p} (README.md:${line})`);
  assert.deepEqual(notInSchema, [], "fields the README lists that the config schema does not have");
  const notListed = [...schema.keys()].filter((p) => !listed.has(p));
  assert.deepEqual(notListed, [], "config fields the README's tables do not list");
});

test("every default the README's config tables give is the schema's", () => {
  const schema = schemaLeaves();
  const wrong: string[] = [];
  for (const row of readmeRows()) {
    for (const [path, text] of rowDefaults(row)) {
      const leaf = schema.get(path);
      if (leaf === undefined) continue; // the test above names it
      const said = readDefault(text);
      const where = `README.md:${row.line}: ${path}: README "${text}"`;
      if (CODE_APPLIED.has(path)) {
        if (leaf.default !== undefined) wrong.push(`${where}, but the schema now has a default`);
        continue;
      }
      const dflt = leaf.default;
      if (said.kind !== "value") {
        if (dflt !== undefined) wrong.push(`${where}, schema default ${JSON.stringify(dflt.value)}`);
        continue;
      }
      if (dflt === undefined) {
        wrong.push(`${where}, the schema has no default`);
        continue;
      }
      const parsed = leaf.schema.safeParse(said.value);
      // .default() holds the value as output, .prefault() as input (parsed like a written one).
      const expected = dflt.prefault ? leaf.schema.safeParse(dflt.value).data : dflt.value;
      const same = (a: unknown) => {
        try {
          assert.deepEqual(a, expected);
          return true;
        } catch {
          return false;
        }
      };
      if (!(same(said.value) || (parsed.success && same(parsed.data)))) {
        wrong.push(
          `${where} (${parsed.success ? JSON.stringify(parsed.data) : "not valid"}), schema default ${JSON.stringify(expected)}`,
        );
      }
    }
  }
  assert.deepEqual(wrong, []);
});

/** Puts `value` at a table path (`pools.P.x`, `routes[].y`) of `doc`, making what is missing. */
function setAt(doc: Record<string, unknown>, path: string, value: unknown): void {
  const segs = path.replace(/^pools\.P\./, "pools.p.").split(".");
  let o = doc;
  segs.forEach((seg, i) => {
    const list = seg.endsWith("[]");
    const key = list ? seg.slice(0, -2) : seg;
    if (i === segs.length - 1 && !list) {
      o[key] = value;
      return;
    }
    if (list) {
      if (!Array.isArray(o[key])) o[key] = [{}];
      o = (o[key] as Record<string, unknown>[])[0];
    } else {
      if (typeof o[key] !== "object" || o[key] === null) o[key] = {};
      o = o[key] as Record<string, unknown>;
    }
  });
}

test("a mapping where any field's value belongs is refused with an error naming that field", () => {
  const unnamed: string[] = [];
  for (const path of schemaLeaves().keys()) {
    const doc: Record<string, unknown> = {
      pools: { p: { members: [{ id: "a", address: "10.0.0.1:80" }] } },
      routes: [{ pool: "p", key: ["ip"] }],
    };
    setAt(doc, path, { x: 1 });
    const r = parseConfig(stringify(doc), {}, "t.yaml");
    const at = path.replace(/^pools\.P\./, "pools.p.").replace(/\[\]/g, "[0]");
    if (r.ok) unnamed.push(`${path}: accepted`);
    else if (!r.errors.some((e) => e.path === at && e.message.length > 0))
      unnamed.push(`${path}: ${r.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
  }
  assert.deepEqual(unnamed, []);
});
