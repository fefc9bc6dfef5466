// The fast way through a config file: js-yaml builds plain values 10-40x faster than the
// `yaml` package builds its positioned syntax tree (a 5,000-member pool: ~10 ms against
// 200-500 ms), and a reload of a big pool was mostly that tree. The tree is only needed to
// say where an error is, so load.ts tries this first and, when anything is off (a syntax
// error, a validation error, a feature this path does not take), parses the text again the
// full way, whose answer (and error positions) stays the reference.
//
// It must give exactly the value the full way gives for every file it accepts, so it resolves
// plain scalars by the same YAML 1.2 core rules as the `yaml` package (no 1.1 `yes`/`no`, no
// timestamps, no `1_000`) and declines, returning null, anything whose meaning depends on the
// tree: aliases (shared nodes and alias-count limits), merge keys, `__proto__` keys, explicit
// `? key` entries, and `${...}` references it cannot resolve cleanly. Duplicate keys, unknown
// tags and syntax errors make js-yaml throw, which is also a decline.

import jsyaml from "js-yaml";
import { formatPath } from "./config-error.js";
import { replaceVarRefs } from "./var-refs.js";

const { FAILSAFE_SCHEMA, Type, load } = jsyaml;

// The `yaml` package's core-schema tests (yaml/dist/schema/core, common/null), so both ways
// read every plain scalar alike.
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT = /^[-+]?[0-9]+$/;
const OCT = /^0o[0-7]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_SPECIAL = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

const scalar = (tag: string, test: (s: string) => boolean, construct: (s: string) => unknown) =>
  new Type(`tag:yaml.org,2002:${tag}`, {
    kind: "scalar",
    resolve: (s: string | null) => s !== null && test(s),
    construct: (s: string | null) => construct(s ?? ""),
  });

const CORE_12 = FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar(
      "null",
      (s) => NULL.test(s),
      () => null,
    ),
    scalar(
      "bool",
      (s) => BOOL.test(s),
      (s) => s[0] === "t" || s[0] === "T",
    ),
    scalar(
      "int",
      (s) => INT.test(s) || OCT.test(s) || HEX.test(s),
      (s) =>
        OCT.test(s) ? Number.parseInt(s.slice(2), 8) : HEX.test(s) ? Number.parseInt(s, 16) : Number(s),
    ),
    scalar(
      "float",
      (s) => FLOAT_SPECIAL.test(s) || FLOAT_EXP.test(s) || FLOAT.test(s),
      (s) => {
        if (!FLOAT_SPECIAL.test(s)) return Number.parseFloat(s);
        if (s.slice(-3).toLowerCase() === "nan") return Number.NaN;
        return s[0] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
      },
    ),
  ],
});

/** An alias (`*name`) where a node may start; also matches some plain text, which only declines. */
const ALIAS = /(?:^|[\s[{,:-])\*[^\s,\]}]/m;
/** An explicit (possibly complex) key `? key`: the two parsers turn non-scalar keys into different strings. */
const EXPLICIT_KEY = /(?:^|[\s[{,-])\?(?:\s|$)/m;

export interface FastParse {
  /** A mapping (the file's top level). */
  readonly value: object;
  /** Formatted paths of the values that contained a `${...}` substitution. */
  readonly substituted: Set<string>;
}

const VAR = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Substitutes `${VAR}` in string values (never keys) in place, as interpolate.ts does on the
 * tree. False when a reference is malformed or a variable is unset: those get the full way,
 * which names the variable in the error (or, where "" is acceptable, gives the same value).
 */
function interpolate(node: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, out: Set<string>): boolean {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (typeof v === "string") {
        if (v.includes("${")) {
          const s = substitute(v, env);
          if (s === null) return false;
          node[i] = s;
          out.add(formatPath([...path, i]));
        }
      } else if (typeof v === "object" && v !== null && !interpolate(v, [...path, i], env, out)) return false;
    }
    return true;
  }
  if (typeof node !== "object" || node === null) return true;
  const obj = node as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (typeof v === "string") {
      if (v.includes("${")) {
        const s = substitute(v, env);
        if (s === null) return false;
        obj[key] = s;
        out.add(formatPath([...path, key]));
      }
    } else if (typeof v === "object" && v !== null && !interpolate(v, [...path, key], env, out)) return false;
  }
  return true;
}

function substitute(text: string, env: NodeJS.ProcessEnv): string | null {
  let ok = true;
  const s = replaceVarRefs(text, (whole, inner) => {
    if (whole === "$${") return "${";
    const m = inner === undefined ? null : VAR.exec(inner);
    if (m === null) {
      ok = false;
      return whole;
    }
    const value = env[m[1]];
    if (m[2] !== undefined && (value === undefined || value === "")) return m[2];
    if (value === undefined) ok = false;
    return value ?? "";
  });
  return ok ? s : null;
}

/**
 * The plain value of config text with `${VAR}` substituted, or null when the text needs the
 * full parser (see the header). Never throws.
 */
export function fastParse(text: string, env: NodeJS.ProcessEnv): FastParse | null {
  if (text.includes("__proto__") || text.includes("<<") || ALIAS.test(text) || EXPLICIT_KEY.test(text))
    return null;
  let value: unknown;
  try {
    value = load(text, { schema: CORE_12 });
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const substituted = new Set<string>();
  if (text.includes("${") && !interpolate(value, [], env, substituted)) return null;
  return { value, substituted };
}

/**
 * The plain value of one self-contained YAML snippet (a flow mapping on one line, say) by the
 * same core rules as fastParse, or undefined when js-yaml refuses it. No `${...}` handling:
 * callers pass snippets without references. Never throws.
 */
export function fastParseSnippet(text: string): unknown {
  if (text.includes("__proto__") || text.includes("<<") || ALIAS.test(text) || EXPLICIT_KEY.test(text))
    return undefined;
  try {
    return load(text, { schema: CORE_12 });
  } catch {
    return undefined;
  }
}
