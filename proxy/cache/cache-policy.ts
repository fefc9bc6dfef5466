// The subset of RFC 9111 (HTTP caching) a shared cache in front of an API needs, as pure
// functions of headers:
//   - requests: GET and HEAD only; `no-store` bypasses the cache, `no-cache` / `max-age=0`
//     (and `Pragma: no-cache`) skip the lookup but may refresh the entry, and so do `If-Match`
//     and `If-Unmodified-Since` (below);
//   - responses are stored only with explicit freshness (`s-maxage`, else `max-age`, else
//     `Expires` - `Date`), never with `no-store`, `private`, `no-cache`, a member's
//     `Set-Cookie` or `Vary: *`, and only for statuses that are cacheable by default (RFC 9110 15.1);
//   - a request with `Authorization` may be stored or answered from the cache only when the
//     response says `public`, `s-maxage` or `must-revalidate` (RFC 9111 3.5);
//   - `Vary` is honoured: the listed request headers are part of the entry's key.
// No heuristic freshness, no revalidation of a stored response with the upstream: a stale entry
// is a miss. A client's conditional request answered from a fresh entry: conditional.ts.

import type { IncomingHttpHeaders } from "node:http";

/** Final statuses cacheable by default (RFC 9110 15.1). */
const CACHEABLE_STATUS = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

export interface Directives {
  readonly names: ReadonlySet<string>;
  /** Lower-cased directive -> its value ("" when none). */
  readonly values: ReadonlyMap<string, string>;
}

const EMPTY: Directives = { names: new Set(), values: new Map() };

/** Parses Cache-Control (one header or several): directive names lower-cased, quotes removed. */
export function parseCacheControl(value: string | string[] | undefined): Directives {
  if (value === undefined || value === "") return EMPTY;
  const text = Array.isArray(value) ? value.join(",") : value;
  const names = new Set<string>();
  const values = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === "") continue;
    let v = eq < 0 ? "" : part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    names.add(name);
    if (!values.has(name)) values.set(name, v);
  }
  return { names, values };
}

function seconds(d: Directives, name: string): number | undefined {
  if (!d.names.has(name)) return undefined;
  const v = d.values.get(name) ?? "";
  if (!/^\d{1,10}$/.test(v)) return 0; // an invalid value means stale (RFC 9111 4.2.1)
  return Number(v);
}

export type RequestCacheMode = "lookup" | "refresh" | "bypass";

/**
 * What the cache may do for this request. `If-Match` and `If-Unmodified-Since` go to the member
 * (as Envoy's cache filter sends every conditional request it cannot answer): they ask whether
 * the member's current representation is still the one the client names, which a stored copy
 * cannot say. A hit ignored them and served 200 with the stored body (Varnish does the same);
 * nginx answers them from its copy, and so says 412 to a client that names a newer version the
 * member would have served. The member's 200 may refresh the entry; its 412 is never stored.
 */
export function requestMode(method: string, headers: IncomingHttpHeaders): RequestCacheMode {
  if (method !== "GET" && method !== "HEAD") return "bypass";
  const cc = parseCacheControl(headers["cache-control"]);
  if (cc.names.has("no-store")) return "bypass";
  if (cc.names.has("no-cache") || seconds(cc, "max-age") === 0) return "refresh";
  if (headers["if-match"] !== undefined || headers["if-unmodified-since"] !== undefined) return "refresh";
  if (cc === EMPTY && headers.pragma !== undefined && /no-cache/i.test(String(headers.pragma)))
    return "refresh";
  return "lookup";
}

export interface Storable {
  /** Freshness lifetime in seconds. */
  readonly lifetime: number;
  /** The response's own Age (seconds) when received. */
  readonly age: number;
  /** Lower-cased request header names the response varies on (sorted), [] when none. */
  readonly vary: readonly string[];
  /** May answer requests carrying Authorization. */
  readonly authOk: boolean;
}

/** Why a response is not stored (the reason is logged at debug level and counted). */
export type NotStorable = { readonly reason: string };

/**
 * Whether the response `res` to `req` may be stored, and for how long. `ownCookies`: how many of
 * its Set-Cookie lines shardgate itself appended after the member's (a sticky id, an affinity
 * cookie): those are per client and never stored, and the member's answer is no less shareable.
 */
export function storable(
  status: number,
  req: IncomingHttpHeaders,
  res: IncomingHttpHeaders,
  nowMs: number,
  ownCookies = 0,
): Storable | NotStorable {
  if (!CACHEABLE_STATUS.has(status)) return { reason: `status ${status}` };
  const cookies = res["set-cookie"];
  if (cookies !== undefined && (Array.isArray(cookies) ? cookies.length : 1) > ownCookies)
    return { reason: "set-cookie" };
  const cc = parseCacheControl(res["cache-control"]);
  for (const d of ["no-store", "private", "no-cache"]) if (cc.names.has(d)) return { reason: d };
  const authOk = cc.names.has("public") || cc.names.has("s-maxage") || cc.names.has("must-revalidate");
  if (req.authorization !== undefined && !authOk) return { reason: "authorization" };
  const varyText = res.vary === undefined ? "" : String(res.vary);
  const vary = varyText
    .split(",")
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== "");
  if (vary.includes("*")) return { reason: "vary *" };
  let lifetime = seconds(cc, "s-maxage") ?? seconds(cc, "max-age");
  if (lifetime === undefined && res.expires !== undefined) {
    const expires = Date.parse(String(res.expires));
    const date = res.date === undefined ? nowMs : Date.parse(String(res.date));
    lifetime =
      Number.isFinite(expires) && Number.isFinite(date)
        ? Math.max(0, Math.floor((expires - date) / 1000))
        : 0;
  }
  if (lifetime === undefined) return { reason: "no explicit freshness" };
  const ageHeader = Number(res.age ?? 0);
  const age = Number.isFinite(ageHeader) && ageHeader > 0 ? Math.floor(ageHeader) : 0;
  if (lifetime - age <= 0) return { reason: "already stale" };
  return { lifetime, age, vary: [...new Set(vary)].sort(), authOk };
}

export function isStorable(s: Storable | NotStorable): s is Storable {
  return (s as Storable).lifetime !== undefined;
}

/** The request's values of the `vary` headers, as one string (part of a variant's key). */
export function varyValues(vary: readonly string[], headers: IncomingHttpHeaders): string {
  let out = "";
  for (const name of vary) {
    const v = headers[name];
    out += `${name}:${v === undefined ? "" : Array.isArray(v) ? v.join(",") : v}\n`;
  }
  return out;
}
