// Where a route finds its sharding key: "header:x-user-id", "cookie:uid", "query:tenant",
// "path:2", "ip". Parsed once at load into tagged objects so the request path switches on
// `kind` and never splits strings.

import { bad, ok, type Parsed } from "./parsed.js";
import { closest } from "./suggest.js";

export type KeySpec =
  /** Header name, lower-cased (Node lower-cases incoming header names). */
  | { readonly kind: "header"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string }
  | { readonly kind: "query"; readonly name: string }
  /** 1-based path segment: for "/users/42/profile", index 2 is "42". */
  | { readonly kind: "path"; readonly index: number }
  /** The client address (after trustedProxies / X-Forwarded-For handling). */
  | { readonly kind: "ip" };

export const KEY_KINDS = ["header", "cookie", "query", "path", "ip"] as const;

const EXPECTED = 'a key source: "header:NAME", "cookie:NAME", "query:NAME", "path:N" (N >= 1) or "ip"';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const COOKIE_NAME = TOKEN;
const QUERY_NAME = /^[^\s&=#]+$/;

function build(kind: unknown, arg: unknown): Parsed<KeySpec> {
  switch (kind) {
    case "ip":
      return arg === undefined ? ok({ kind: "ip" }) : bad(EXPECTED);
    case "header":
      return typeof arg === "string" && TOKEN.test(arg)
        ? ok({ kind, name: arg.toLowerCase() })
        : bad(EXPECTED);
    case "cookie":
      return typeof arg === "string" && COOKIE_NAME.test(arg) ? ok({ kind, name: arg }) : bad(EXPECTED);
    case "query":
      return typeof arg === "string" && QUERY_NAME.test(arg) ? ok({ kind, name: arg }) : bad(EXPECTED);
    case "path": {
      const n = typeof arg === "string" && /^\d{1,4}$/.test(arg) ? Number(arg) : arg;
      return typeof n === "number" && Number.isInteger(n) && n >= 1 ? ok({ kind, index: n }) : bad(EXPECTED);
    }
    default: {
      // A misspelt kind ("qeury:tenant", "heder:x-user-id") said only what was expected, unlike
      // a misspelt config key; name the source it probably meant, with its argument.
      const near = typeof kind === "string" ? closest(kind, KEY_KINDS) : undefined;
      if (near === undefined) return bad(EXPECTED);
      const meant = near === "ip" || arg === undefined ? near : `${near}:${String(arg)}`;
      return bad(`${EXPECTED} (did you mean "${meant}"?)`);
    }
  }
}

const EXAMPLE_ARG: Record<string, string> = {
  header: "x-user-id",
  cookie: "uid",
  query: "tenant",
  path: "2",
};

/**
 * `key: [header:]` and `key: [header: x-user-id]` are YAML mappings ({header: null}, {header:
 * "x-user-id"}), and the error said "found a mapping", which reads as nonsense to someone who
 * wrote a string. A one-entry mapping whose key is a source's name gets the string it meant.
 */
function yamlPairHint(o: Record<string, unknown>, keys: string[]): Parsed<KeySpec> | undefined {
  if (keys.length !== 1) return undefined;
  const kind = keys[0].toLowerCase();
  if (!(KEY_KINDS as readonly string[]).includes(kind)) return undefined;
  const arg = o[keys[0]];
  if (kind === "ip")
    return bad(`${EXPECTED} (write "ip", without a colon)`, '"ip:", which YAML reads as a mapping');
  if (arg === null || arg === undefined || arg === "") {
    const what = kind === "path" ? "a segment number" : "a name";
    return bad(
      `${EXPECTED} ("${kind}:" needs ${what}, e.g. "${kind}:${EXAMPLE_ARG[kind]}")`,
      `"${kind}:" with nothing after it, which YAML reads as a mapping`,
    );
  }
  if (typeof arg !== "string" && typeof arg !== "number") return undefined;
  const text = String(arg).trim();
  return bad(
    `${EXPECTED} (did you mean "${kind}:${text}"?)`,
    `"${kind}: ${text}" with a space after the colon, which YAML reads as a mapping`,
  );
}

/** Parses "kind:arg" or an already-normalized `{kind, ...}` object. */
export function parseKeySpec(input: unknown): Parsed<KeySpec> {
  if (typeof input === "string") {
    const text = input.trim();
    const colon = text.indexOf(":");
    if (colon < 0) return build(text.toLowerCase(), undefined);
    return build(text.slice(0, colon).toLowerCase(), text.slice(colon + 1));
  }
  if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    const keys = Object.keys(o);
    const yamlPair = yamlPairHint(o, keys);
    if (yamlPair !== undefined) return yamlPair;
    const argKey = o.kind === "path" ? "index" : o.kind === "ip" ? undefined : "name";
    if (keys.some((k) => k !== "kind" && k !== argKey)) return bad(EXPECTED);
    return build(o.kind, argKey === undefined ? undefined : o[argKey]);
  }
  return bad(EXPECTED);
}

/** The text form of a key spec, for logs and error messages. */
export function formatKeySpec(spec: KeySpec): string {
  switch (spec.kind) {
    case "ip":
      return "ip";
    case "path":
      return `path:${spec.index}`;
    default:
      return `${spec.kind}:${spec.name}`;
  }
}
