// JSON text that stays inert wherever a browser might put it. The admin API reflects strings
// it does not own (a route key from the query, a path in a 404, a neighbour's answer in the
// fleet view); `<`, `>` and `&` are written as \u003c, \u003e, \u0026 (what Go's encoding/json,
// and so etcd's and Consul's APIs, do by default), and U+2028/U+2029 as escapes too (a script
// context ends a line on them). The value parses back unchanged: the escapes are plain JSON.

const UNSAFE = /[<>&\u2028\u2029]/g;

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** JSON.stringify(value) with the characters a browser could read as markup escaped. */
export function htmlSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, escapeChar);
}
