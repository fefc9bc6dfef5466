// Route matching, compiled once per config. Precedence (most specific wins):
//   1. host tier: exact host, then "*.suffix" patterns (longest suffix first), then "*";
//   2. within a tier, the longest pathPrefix that the URL starts with;
//   3. equal host pattern and equal prefix: the route listed first in the config.
// If no route of a more specific host tier has a matching prefix, the next tier is tried.
// Hosts compare case-insensitively with any ":port" stripped; prefixes are plain,
// case-sensitive string prefixes of the request target (as Envoy's `prefix` match).

import type { RouteConfig } from "../../config/file/schema.js";
import { CURRENT_KEY_RULES, compileKeyPlan, type KeyRules } from "./key-extract.js";
import type { CompiledRoute, RouteTable } from "./types.js";

function byPrefixLengthDesc(a: CompiledRoute, b: CompiledRoute): number {
  const d = b.config.match.pathPrefix.length - a.config.match.pathPrefix.length;
  return d !== 0 ? d : a.index - b.index;
}

function hostLabel(route: RouteConfig): string {
  const h = route.match.host;
  return h.kind === "any" ? "*" : h.kind === "exact" ? h.host : `*${h.suffix}`;
}

function firstPrefixMatch(list: readonly CompiledRoute[], url: string): CompiledRoute | null {
  for (let i = 0; i < list.length; i++) {
    if (url.startsWith(list[i].config.match.pathPrefix)) return list[i];
  }
  return null;
}

/** Lower-cases and strips the port from a Host header value ("Example.COM:8080" -> "example.com"). */
export function normalizeHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf("]");
    end = close < 0 ? end : close + 1;
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0) end = colon;
  }
  // A trailing dot names the same host ("example.com." is fully qualified).
  if (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  const h = end === host.length ? host : host.slice(0, end);
  return h.toLowerCase();
}

class CompiledRouteTable implements RouteTable {
  readonly routes: readonly CompiledRoute[];
  private readonly exact = new Map<string, CompiledRoute[]>();
  /** [suffix, routes] with the longest suffix first. */
  private readonly suffixes: Array<[string, CompiledRoute[]]> = [];
  private readonly any: CompiledRoute[] = [];
  private readonly hostIndependent: boolean;

  constructor(
    routes: readonly RouteConfig[],
    readonly rules: KeyRules,
  ) {
    const compiled: CompiledRoute[] = [];
    const suffixMap = new Map<string, CompiledRoute[]>();
    routes.forEach((config, index) => {
      const r: CompiledRoute = Object.freeze({
        index,
        label: `${hostLabel(config)}${config.match.pathPrefix}`,
        config,
        pool: config.pool,
        keyPlan: compileKeyPlan(config, rules),
      });
      compiled.push(r);
      const h = config.match.host;
      if (h.kind === "any") this.any.push(r);
      else if (h.kind === "exact") {
        const key = normalizeHost(h.host);
        const list = this.exact.get(key) ?? [];
        list.push(r);
        this.exact.set(key, list);
      } else {
        const key = h.suffix.toLowerCase();
        const list = suffixMap.get(key) ?? [];
        list.push(r);
        suffixMap.set(key, list);
      }
    });
    for (const list of this.exact.values()) list.sort(byPrefixLengthDesc);
    for (const [suffix, list] of suffixMap) this.suffixes.push([suffix, list.sort(byPrefixLengthDesc)]);
    this.suffixes.sort((a, b) => b[0].length - a[0].length);
    this.any.sort(byPrefixLengthDesc);
    this.routes = Object.freeze(compiled);
    this.hostIndependent = this.exact.size === 0 && this.suffixes.length === 0;
  }

  match(host: string | undefined, url: string): CompiledRoute | null {
    if (!this.hostIndependent && host !== undefined && host !== "") {
      const h = normalizeHost(host);
      const exact = this.exact.get(h);
      if (exact !== undefined) {
        const r = firstPrefixMatch(exact, url);
        if (r !== null) return r;
      }
      for (let i = 0; i < this.suffixes.length; i++) {
        const [suffix, list] = this.suffixes[i];
        // "*.example.com" matches "a.example.com" but not the apex "example.com".
        if (h.length > suffix.length && h.endsWith(suffix)) {
          const r = firstPrefixMatch(list, url);
          if (r !== null) return r;
        }
      }
    }
    return firstPrefixMatch(this.any, url);
  }
}

/** The table of `routes`, their keys read by `rules` (key-extract.ts KeyRules; default the current ones). */
export function compileRouteTable(
  routes: readonly RouteConfig[],
  rules: KeyRules = CURRENT_KEY_RULES,
): RouteTable {
  return new CompiledRouteTable(routes, rules);
}
