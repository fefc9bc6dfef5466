// Route host patterns: "*" (any host), "*.example.com" (any subdomain, not the apex) or an
// exact host. Normalized to a tagged object with lower-cased names so matching is a switch
// and a string comparison.

import { bad, ok, type Parsed } from "./parsed.js";

export type HostMatch =
  | { readonly kind: "any" }
  | { readonly kind: "exact"; readonly host: string }
  /** `suffix` includes the leading dot: "*.example.com" -> ".example.com". */
  | { readonly kind: "suffix"; readonly suffix: string };

const EXPECTED = 'a host pattern: "*", "*.example.com" or an exact host like "api.example.com"';
const NAME = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,62})\.)*[a-z0-9_](?:[a-z0-9_-]{0,62})$|^\[[0-9a-f:.]+\]$/;

export function parseHostMatch(input: unknown): Parsed<HostMatch> {
  if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    if (o.kind === "any" && Object.keys(o).length === 1) return ok({ kind: "any" });
    if (o.kind === "exact" && Object.keys(o).length === 2) return parseHostMatch(o.host);
    if (o.kind === "suffix" && Object.keys(o).length === 2 && typeof o.suffix === "string") {
      return parseHostMatch(`*${o.suffix}`);
    }
    return bad(EXPECTED);
  }
  if (typeof input !== "string") return bad(EXPECTED);
  const text = input.trim().toLowerCase();
  if (text === "*") return ok({ kind: "any" });
  if (text.startsWith("*.")) {
    return NAME.test(text.slice(2)) ? ok({ kind: "suffix", suffix: text.slice(1) }) : bad(EXPECTED);
  }
  return NAME.test(text) ? ok({ kind: "exact", host: text }) : bad(EXPECTED);
}
