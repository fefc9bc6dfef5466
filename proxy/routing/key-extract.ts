// Key extraction: the first non-empty value of a route's ordered key sources
// (header:NAME, cookie:NAME, query:NAME, path:N, ip). Compiled once per route; at request
// time the Cookie header and the query string are scanned in place for the one name asked
// for (no full parse, no intermediate objects), and only the value found is sliced out.

import type { IncomingMessage } from "node:http";
import type { Cidr, KeySpec, RouteConfig } from "../../config/file/schema.js";
import { addressPart, canonicalPart, unmapIPv4 } from "./address-text.js";
import { CidrMatcher, type TrustedList } from "./cidr-match.js";
import { forwardedFor, identifiesNothing, textIdentifiesNothing } from "./forwarded.js";
import { HTTP_PORT, HTTPS_PORT, hostKeyText, hostKeyTextV6 } from "./host-key.js";
import { clientAddressV3, headerValueV3, queryValueV3 } from "./key-extract-v3.js";

export { unmapIPv4 };

/**
 * Which spelling rules a plan reads keys by: "vN" those of feature level N (committed-routing.ts
 * keyRulesAt), "v3" the level-3 build's (key-extract-v3.ts, frozen), "v4" s14's spellings; a
 * clustered instance reads by its committed cluster level's rules, so every instance of a
 * mixed-version fleet routes a key to one member.
 */
export type KeyRules = "v3" | "v4" | "v5" | "v6" | "v7";

/**
 * The rules of this build (feature level 7): "v4" reads a `Forwarded: for=unknown` or obfuscated
 * (`for=_x`) node as the key text "unknown" / "_x", "v5" as no client address (RFC 7239 section
 * 6: they identify nothing), so the ip source is absent and the next source or the missing-key
 * policy decides. "v6" (feature level 6) reads a `header:host` key as one text per authority
 * (host-key.ts: the listener's default port and a trailing dot dropped), where "v4" and "v5" only
 * lower-case it. "v7" (feature level 7) drops ports 80 and 443 whichever listener read the
 * request, so every instance of a fleet hashes one Host as one text. Clustered instances use the
 * current rules only once the committed level has them.
 */
export const CURRENT_KEY_RULES: KeyRules = "v7";

type CompiledKey =
  /**
   * `host`: the Host field (":authority" on HTTP/2), whose name part is case-insensitive.
   * `h2Lines`: a field Node's HTTP/2 parser keeps only the first line of (H2_FIRST_LINE_ONLY).
   */
  | { readonly kind: "header"; readonly name: string; readonly host: boolean; readonly h2Lines: boolean }
  /** `needle` is "name=". */
  | { readonly kind: "cookie"; readonly name: string; readonly needle: string }
  | { readonly kind: "query"; readonly name: string; readonly needle: string }
  | { readonly kind: "path"; readonly index: number }
  | { readonly kind: "ip" }
  /** The level-4 reading of an ip key: a Forwarded node that identifies nothing is its text. */
  | { readonly kind: "ip4" }
  /** The level-7 reading of `header:host`: host-key.ts's text, the same on every listener. */
  | { readonly kind: "host" }
  /** The level-6 reading of `header:host`: without the listener's own default port (levels 4 and 5: `header`, lower-cased). */
  | { readonly kind: "host6" }
  /** The level-3 readings (key-extract-v3.ts) of header, query, path and ip keys. */
  | { readonly kind: "header3"; readonly name: string }
  | { readonly kind: "query3"; readonly name: string; readonly needle: string }
  | { readonly kind: "path3"; readonly index: number }
  | { readonly kind: "ip3" };

export interface KeyPlan {
  readonly keys: readonly CompiledKey[];
  /** Peers whose X-Forwarded-For / -Proto / -Host are believed; null = none. */
  readonly trusted: TrustedList | null;
  /** 1-based path segments that are key sources (`path:N`); logs must not show them. */
  readonly pathKeySegments: readonly number[];
  /** The spelling rules the keys were compiled with. */
  readonly rules: KeyRules;
}

/**
 * Fields whose repeated lines Node's HTTP/1.1 parser joins with ", " but its HTTP/2 parser cuts
 * to the first line (node:http2 treats them as single-valued). A key read from one of them is
 * joined from the request's raw lines on HTTP/2, so both transports give one value.
 */
const H2_FIRST_LINE_ONLY: ReadonlySet<string> = new Set([
  "access-control-allow-credentials",
  "access-control-max-age",
  "access-control-request-method",
  "content-encoding",
  "content-language",
  "content-location",
  "content-md5",
  "content-range",
  "date",
  "dnt",
  "if-match",
  "if-none-match",
  "if-range",
  "range",
  "tk",
  "upgrade-insecure-requests",
  "x-content-type-options",
]);

/** Every raw line of field `name` (lower case, as HTTP/2 names are), joined with ", ". */
function joinedLines(raw: readonly string[], name: string): string {
  let out = "";
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i] === name) out = out === "" ? raw[i + 1] : `${out}, ${raw[i + 1]}`;
  return out;
}

function compileKey(spec: KeySpec, rules: KeyRules): CompiledKey {
  if (rules === "v3") {
    switch (spec.kind) {
      case "header":
        return { kind: "header3", name: spec.name.toLowerCase() };
      case "query":
        return { kind: "query3", name: spec.name, needle: `${spec.name}=` };
      case "path":
        return { kind: "path3", index: spec.index };
      case "ip":
        return { kind: "ip3" };
    }
  }
  switch (spec.kind) {
    case "cookie":
    case "query":
      return { kind: spec.kind, name: spec.name, needle: `${spec.name}=` };
    case "header": {
      const name = spec.name.toLowerCase();
      if (name === "host" && rules === "v6") return { kind: "host6" };
      if (name === "host" && rules !== "v4" && rules !== "v5") return { kind: "host" };
      return { kind: "header", name, host: name === "host", h2Lines: H2_FIRST_LINE_ONLY.has(name) };
    }
    case "ip":
      return rules === "v4" ? { kind: "ip4" } : spec;
    default:
      return spec;
  }
}

/** The route's trustedProxies, compiled once (cidr-match.ts); null when it has none. */
export function compileTrusted(cidrs: readonly Cidr[]): TrustedList | null {
  return cidrs.length === 0 ? null : new CidrMatcher(cidrs);
}

/**
 * Compiles a route's key list. Under `onMissingKey: cookie` the issued cookie is read back
 * as the last source when the list does not already name it, so the next request sticks.
 */
export function compileKeyPlan(route: RouteConfig, rules: KeyRules = CURRENT_KEY_RULES): KeyPlan {
  const keys = route.key.map((spec) => compileKey(spec, rules));
  if (route.onMissingKey === "cookie") {
    const name = route.cookie.name;
    if (!keys.some((k) => k.kind === "cookie" && k.name === name))
      keys.push(compileKey({ kind: "cookie", name }, rules));
  }
  const pathKeySegments: number[] = [];
  for (const k of keys) if (k.kind === "path" || k.kind === "path3") pathKeySegments.push(k.index);
  return Object.freeze({
    keys: Object.freeze(keys),
    trusted: compileTrusted(route.trustedProxies),
    pathKeySegments: Object.freeze(pathKeySegments),
    rules,
  });
}

/**
 * `url` with the given 1-based path segments replaced by "*", so a log line carries no raw
 * key even when a route takes its key from the path. Only routes with `path:N` keys pay for it.
 */
export function redactPathSegments(url: string, segments: readonly number[]): string {
  let end = url.indexOf("?");
  if (end < 0) end = url.length;
  let out = "";
  let start = url.charCodeAt(0) === 0x2f ? 1 : 0;
  let copied = 0;
  for (let n = 1; start <= end; n++) {
    let stop = url.indexOf("/", start);
    if (stop < 0 || stop > end) stop = end;
    if (stop > start && segments.includes(n)) {
      out += `${url.slice(copied, start)}*`;
      copied = stop;
    }
    if (stop === end) break;
    start = stop + 1;
  }
  return copied === 0 ? url : out + url.slice(copied);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** The value of cookie `needle` ("name=") in a Cookie header, or "". */
export function cookieValue(header: string, needle: string): string {
  let start = cookieValueAt(header, needle, 0);
  if (start < 0) return "";
  let end = cookieValueEnd(header, start);
  if (isQuoted(header, start, end)) {
    start++;
    end--;
  }
  return header.slice(start, end);
}

/** Where the value of the first cookie-pair named by `needle` ("name=") at or after `from` starts, or -1. */
export function cookieValueAt(header: string, needle: string, from: number): number {
  while (from < header.length) {
    const at = header.indexOf(needle, from);
    if (at < 0) return -1;
    // A match must start a cookie-pair: at the start or after ";" and optional spaces.
    let b = at - 1;
    while (b >= 0 && isOws(header.charCodeAt(b))) b--;
    if (b < 0 || header.charCodeAt(b) === 0x3b /* ; */) return at + needle.length;
    from = at + 1;
  }
  return -1;
}

/** Where the cookie value starting at `start` ends: at the next ";", trailing whitespace left out. */
export function cookieValueEnd(header: string, start: number): number {
  let end = header.indexOf(";", start);
  if (end < 0) end = header.length;
  while (end > start && isOws(header.charCodeAt(end - 1))) end--;
  return end;
}

/** Whether `header[start, end)` is a cookie value in one pair of double quotes (dropped from the key). */
export function isQuoted(header: string, start: number, end: number): boolean {
  return end - start >= 2 && header.charCodeAt(start) === 0x22 && header.charCodeAt(end - 1) === 0x22;
}

/** A query name or value as URLSearchParams reads it: "+" a space, escapes decoded. */
export function decodeQueryComponent(raw: string): string {
  let s = raw;
  if (s.indexOf("+") >= 0) s = s.replace(/\+/g, " ");
  if (s.indexOf("%") < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return lenientDecode(s);
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * WHATWG form decoding for what decodeURIComponent refuses: every "%XX" becomes its byte
 * (either hex case), a "%" without two hex digits stays, and the bytes are read as UTF-8 with
 * U+FFFD for invalid sequences. So "%ff" and "%FF", "a%62%ZZ" and "ab%ZZ" are one key, as
 * URLSearchParams reads them (the raw text was the key before: one value, two members).
 */
function lenientDecode(s: string): string {
  const bytes = Buffer.from(s, "utf8");
  let w = 0;
  for (let r = 0; r < bytes.length; r++, w++) {
    const b = bytes[r];
    if (b === 0x25 && r + 2 < bytes.length) {
      const hi = hexValue(bytes[r + 1]);
      const lo = hexValue(bytes[r + 2]);
      if (hi >= 0 && lo >= 0) {
        bytes[w] = hi * 16 + lo;
        r += 2;
        continue;
      }
    }
    bytes[w] = b;
  }
  return bytes.toString("utf8", 0, w);
}

/**
 * The value of query parameter `needle` ("name=") in a request target, decoded, or "": the
 * first pair whose name, decoded, is the name ("%75ser=" is "user="), as URLSearchParams reads it.
 */
export function queryValue(url: string, needle: string): string {
  const q = url.indexOf("?");
  if (q < 0) return "";
  let end = url.indexOf("#", q);
  if (end < 0) end = url.length;
  let from = q + 1;
  while (from < end) {
    const at = url.indexOf(needle, from);
    if (at < 0 || at >= end) break;
    const before = url.charCodeAt(at - 1);
    if (before === 0x3f /* ? */ || before === 0x26 /* & */) {
      // A pair before this one can only be the name spelled encoded if it holds a "%".
      if (hasPercent(url, q + 1, at)) return decodedNameValue(url, q + 1, end, needle);
      const start = at + needle.length;
      let stop = url.indexOf("&", start);
      if (stop < 0 || stop > end) stop = end;
      return stop === start ? "" : decodeQueryComponent(url.slice(start, stop));
    }
    from = at + 1;
  }
  // No "name=" as written: the name may still be there encoded.
  return hasPercent(url, q + 1, end) ? decodedNameValue(url, q + 1, end, needle) : "";
}

function hasPercent(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 0x25) return true;
  return false;
}

/** queryValue's path for a query holding a "%": every pair's name compared decoded. */
function decodedNameValue(url: string, from: number, end: number, needle: string): string {
  const name = needle.slice(0, -1);
  let start = from;
  // The first "=" at or after `start`, searched again only once a pair has gone past it: a
  // search per pair ran on to the next "=" however far (to the query's end for "a&a&a&...",
  // so 4,000 pairs without one scanned 16 M characters; test/outside/complexity-query-key.test.ts).
  let eq = url.indexOf("=", start);
  while (start < end) {
    if (eq < 0) return ""; // no pair left has a value
    let stop = url.indexOf("&", start);
    if (stop < 0 || stop > end) stop = end;
    if (eq < start) eq = url.indexOf("=", start);
    if (eq >= 0 && eq < stop) {
      const raw = url.slice(start, eq);
      if (raw === name || decodeQueryComponent(raw) === name)
        return eq + 1 === stop ? "" : decodeQueryComponent(url.slice(eq + 1, stop));
    }
    start = stop + 1;
  }
  return "";
}

/** The 1-based `index`th segment of the path ("/users/42/x", 2 -> "42"), undecoded, or "". */
export function pathSegment(url: string, index: number): string {
  let end = url.indexOf("?");
  if (end < 0) end = url.length;
  let start = url.charCodeAt(0) === 0x2f ? 1 : 0;
  for (let n = 1; start <= end; n++) {
    let stop = url.indexOf("/", start);
    if (stop < 0 || stop > end) stop = end;
    if (n === index) return url.slice(start, stop);
    if (stop === end) return "";
    start = stop + 1;
  }
  return "";
}

/**
 * A path key as its characters: "a%7Cb" and "a|b", "j%C3%B6rg" and "jörg" are one key (the path
 * is already normalised, so only escapes of reserved and non-ASCII characters are left). Unlike
 * a query, "+" is a plus. `seg` itself when it has no "%".
 */
function decodeSegment(seg: string): string {
  if (seg.indexOf("%") < 0) return seg;
  try {
    return decodeURIComponent(seg);
  } catch {
    return lenientDecode(seg);
  }
}

/** Whether `address` (a peer address as Node reports it, or an entry's canonical text) is inside `list`. */
export function isTrusted(list: TrustedList | null, address: string | undefined): boolean {
  return list !== null && address !== undefined && address !== "" && list.has(address);
}

/**
 * The client address: the direct peer, unless the peer is a trusted proxy; then the
 * right-most `Forwarded: for=` node (RFC 7239) or, without one, X-Forwarded-For entry that is not itself trusted (the left-most if all are).
 * Entries are read in their canonical text (address-text.ts): "[2001:DB8::1]:443" is "2001:db8::1".
 * A Forwarded node or X-Forwarded-For entry that identifies nothing (`unknown`, `_obfuscated`) where the walk stops gives
 * "" (no address: nothing behind it can be believed either), unless `nothingIsText` (level 4's
 * reading: the node's text).
 * The trust check reads an entry's address as written (the matcher compares bits, so spelling
 * does not change its answer); only the entry returned is canonicalised, so a long chain of
 * trusted IPv6 hops costs a parse each, not a socket-layer call each (~1.3 us).
 */
export function clientAddress(
  req: IncomingMessage,
  trusted: TrustedList | null,
  nothingIsText = false,
): string {
  const peer = unmapIPv4(req.socket.remoteAddress ?? "");
  if (trusted === null || !isTrusted(trusted, peer)) return peer;
  const fwd = req.headers.forwarded;
  if (typeof fwd === "string" && fwd !== "") {
    // RFC 7239 wins over X-Forwarded-For when a trusted proxy sent a well-formed one.
    const nodes = forwardedFor(fwd);
    if (nodes !== undefined && nodes.length > 0)
      return rightMostUntrusted(nodes, trusted, peer, nothingIsText);
  }
  const xff = req.headers["x-forwarded-for"];
  if (typeof xff !== "string" || xff === "") return peer;
  let end = xff.length;
  let candidate = "";
  while (end > 0) {
    const comma = xff.lastIndexOf(",", end - 1);
    const entry = xff.slice(comma + 1, end).trim();
    end = Math.max(comma, 0);
    if (entry === "") continue;
    candidate = addressPart(entry);
    if (!isTrusted(trusted, candidate)) {
      const address = canonicalPart(candidate);
      return nothingIsText || !textIdentifiesNothing(address) ? address : "";
    }
  }
  return candidate === "" ? peer : canonicalPart(candidate);
}

function rightMostUntrusted(
  nodes: string[],
  trusted: TrustedList,
  peer: string,
  nothingIsText: boolean,
): string {
  let candidate = "";
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (nodes[i] === "") continue;
    candidate = addressPart(nodes[i]);
    if (!isTrusted(trusted, candidate)) {
      const address = canonicalPart(candidate);
      return nothingIsText || !identifiesNothing(address) ? address : "";
    }
  }
  return candidate === "" ? peer : canonicalPart(candidate);
}

/** `v` with A-Z lowered (host names are case-insensitive, RFC 3986 3.2.2); `v` itself when it has none. */
export function lowerCased(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return v.toLowerCase();
  }
  return v;
}

/**
 * The default port of the listener `req` came in on (level 6's host key): 443 on TLS, else 80. An HTTP/2 request's
 * socket is Node's proxy, which reads `encrypted` from the session's socket.
 */
function listenerPort(req: IncomingMessage): number {
  return (req.socket as { encrypted?: unknown } | undefined)?.encrypted === true ? HTTPS_PORT : HTTP_PORT;
}

/** The routing key of `req` under `plan`: the first non-empty source, or "" when none has a value. */
export function extractKey(plan: KeyPlan, req: IncomingMessage): string {
  const keys = plan.keys;
  for (let i = 0; i < keys.length; i++) {
    const v = sourceValue(plan, keys[i], req);
    if (v !== "") return v;
  }
  return "";
}

/** The value key source `k` of `plan` reads from `req`, or "". */
export function sourceValue(plan: KeyPlan, k: KeyPlan["keys"][number], req: IncomingMessage): string {
  let v = "";
  switch (k.kind) {
    case "header": {
      const h = req.headers[k.name];
      // Repeated lines are one field (RFC 9110 5.3): joined with ", " as Node's HTTP/1.1 and
      // HTTP/2 parsers join them, never just the first line when a list reaches us as an array.
      v = typeof h === "string" ? h : Array.isArray(h) ? h.join(", ") : "";
      if (k.host) v = lowerCased(v);
      // An HTTP/2 request (its compatibility object has the stream) may hold more lines.
      else if (k.h2Lines && v !== "" && (req as { stream?: unknown }).stream !== undefined)
        v = joinedLines(req.rawHeaders, k.name);
      break;
    }
    case "host": {
      const h: unknown = req.headers.host;
      const text = typeof h === "string" ? h : Array.isArray(h) ? h.join(", ") : "";
      if (text !== "") v = hostKeyText(text);
      break;
    }
    case "host6": {
      const h: unknown = req.headers.host;
      const text = typeof h === "string" ? h : Array.isArray(h) ? h.join(", ") : "";
      if (text !== "") v = hostKeyTextV6(text, listenerPort(req));
      break;
    }
    case "cookie": {
      const c = req.headers.cookie;
      if (c !== undefined && c !== "") v = cookieValue(c, k.needle);
      break;
    }
    case "query":
      v = queryValue(req.url ?? "", k.needle);
      break;
    case "path":
      v = decodeSegment(pathSegment(req.url ?? "", k.index));
      break;
    case "ip":
      v = clientAddress(req, plan.trusted);
      break;
    case "ip4":
      v = clientAddress(req, plan.trusted, true);
      break;
    case "header3":
      v = headerValueV3(req, k.name);
      break;
    case "query3":
      v = queryValueV3(req.url ?? "", k.needle);
      break;
    case "path3":
      v = pathSegment(req.url ?? "", k.index);
      break;
    case "ip3":
      v = clientAddressV3(req, plan.trusted);
      break;
  }
  return v;
}
