// Whether a request spells a key source two ways. Routing joins a header's repeated lines with
// ", " (README, Keys), but a member reads them its own way: Go's Header.Get and Java's getHeader
// take the first line, PHP the last. Under a rate limit every spelling is a bucket of its own,
// so `X-Api-Key: k` sent twice, or an empty line then `k`, escaped the limit of the key the member
// sees. The same holds for a cookie or query parameter named twice with different values (first
// wins here and in Go; Django's cookies and PHP's $_GET take the last, Express's qs a list).
// A cookie is the exception the caller must not refuse: a browser holding `sid` set on "/" and
// on "/app" sends both (RFC 6265 5.4, longest path first), so cookieReadings lists the values for
// the caller to count each. Nothing is allocated for a request whose header, cookie and query
// sources are each sent once, unless a query name holds an escape or a path or ip source before
// them has to be read.

import type { IncomingMessage } from "node:http";
import {
  cookieValueAt,
  cookieValueEnd,
  decodeQueryComponent,
  isQuoted,
  type KeyPlan,
  sourceValue,
} from "./key-extract.js";

/** What a source holds: nothing (or an empty value), one value, or two readings. */
const ABSENT = 0;
const PRESENT = 1;
const AMBIGUOUS = 2;

/**
 * The index in `plan.keys` of the first source that `req` sends ambiguously before a source gives
 * the key: a header on more than one line (HTTP/1.1 lines, HTTP/2 fields; the key is read from
 * whichever comes first, so an empty line counts too), a cookie or query parameter named again
 * with another value. -1 when there is none. Sources after the one that gives the key are never
 * read. Header, cookie and query sources are read in place; another source (path, ip, host) is
 * read only when a header, cookie or query source follows it.
 */
export function ambiguousKeySource(plan: KeyPlan, req: IncomingMessage): number {
  const keys = plan.keys;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    let state: number;
    switch (k.kind) {
      case "header":
      case "header3":
        // Cookie fields are one list however many lines carry them (HTTP/2 crumbs, RFC 9113
        // 8.2.3; Node joins them with "; " as a member's server does): never repeated lines.
        state =
          k.name === "cookie"
            ? req.headers.cookie === undefined || req.headers.cookie === ""
              ? ABSENT
              : PRESENT
            : headerState(req.rawHeaders, k.name);
        if (state === AMBIGUOUS) return i;
        break;
      case "cookie": {
        // HTTP/2 cookie crumbs (RFC 9113 8.2.3) and repeated HTTP/1.1 Cookie lines reach us as
        // one list joined with "; ": only the same name with another value is ambiguous.
        const c = req.headers.cookie;
        state = c === undefined ? ABSENT : cookieState(c, k.needle);
        if (state === AMBIGUOUS) return i;
        break;
      }
      case "query":
      case "query3":
        state = queryState(req.url ?? "", k.name);
        if (state === AMBIGUOUS) return i;
        break;
      default:
        if (!checkedAfter(keys, i)) return -1;
        state = sourceValue(plan, k, req) === "" ? ABSENT : PRESENT;
    }
    if (state === PRESENT) return -1;
  }
  return -1;
}

/** How a log line names key source `k`: "header:x-api-key", "cookie:sid", "query:k". */
export function sourceName(k: KeyPlan["keys"][number]): string {
  const kind = k.kind === "header3" ? "header" : k.kind === "query3" ? "query" : k.kind;
  return "name" in k ? `${kind}:${k.name}` : kind;
}

/**
 * The distinct non-empty values of cookie `needle` ("name=") in `header`, in the order sent,
 * quotes dropped, at most `max + 1` of them (the caller refuses more than `max`). Only asked for
 * a cookie ambiguousKeySource found named twice, so the allocation is off the common path.
 */
export function cookieReadings(header: string, needle: string, max: number): string[] {
  const values: string[] = [];
  let from = 0;
  for (;;) {
    let start = cookieValueAt(header, needle, from);
    if (start < 0) return values;
    let end = cookieValueEnd(header, start);
    from = end;
    if (isQuoted(header, start, end)) {
      start++;
      end--;
    }
    if (end === start) continue;
    const v = header.slice(start, end);
    if (values.includes(v)) continue;
    values.push(v);
    if (values.length > max) return values;
  }
}

/** Whether a header, cookie or query source follows source `i`: only then must `i` be read. */
function checkedAfter(keys: KeyPlan["keys"], i: number): boolean {
  for (let j = i + 1; j < keys.length; j++) {
    const kind = keys[j].kind;
    if (kind === "header" || kind === "header3" || kind === "cookie" || kind === "query" || kind === "query3")
      return true;
  }
  return false;
}

/** Whether `raw`'s lines (name, value pairs; names as sent) hold `name` (lower case) not at all or empty, once, or more. */
function headerState(raw: readonly string[], name: string): number {
  let value = -1;
  for (let i = 0; i < raw.length; i += 2) {
    if (!sameName(raw[i], name)) continue;
    if (value >= 0) return AMBIGUOUS;
    value = i + 1;
  }
  return value < 0 || raw[value] === "" ? ABSENT : PRESENT;
}

/** `sent` equals `lower` in ASCII case-insensitive comparison, without a lower-cased copy. */
function sameName(sent: string, lower: string): boolean {
  if (sent.length !== lower.length) return false;
  for (let i = 0; i < sent.length; i++) {
    let c = sent.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Cookie `needle` ("name=") in `header`: absent (or empty), one value (maybe repeated), or values that differ. */
function cookieState(header: string, needle: string): number {
  let first = cookieValueAt(header, needle, 0);
  if (first < 0) return ABSENT;
  let firstEnd = cookieValueEnd(header, first);
  if (isQuoted(header, first, firstEnd)) {
    first++;
    firstEnd--;
  }
  let from = firstEnd;
  for (;;) {
    let start = cookieValueAt(header, needle, from);
    if (start < 0) return firstEnd > first ? PRESENT : ABSENT;
    let end = cookieValueEnd(header, start);
    from = end;
    if (isQuoted(header, start, end)) {
      start++;
      end--;
    }
    if (!sameRange(header, first, firstEnd, start, end)) return AMBIGUOUS;
  }
}

function sameRange(s: string, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; a + i < aEnd; i++) if (s.charCodeAt(a + i) !== s.charCodeAt(b + i)) return false;
  return true;
}

/**
 * Query parameter `name` in `url`: absent (or empty), one value (maybe repeated), or values that
 * differ, names and values compared as URLSearchParams reads them (a pair without "=" is the name
 * with an empty value, so `?k&k=a` is two values). One pass over the query.
 */
function queryState(url: string, name: string): number {
  const q = url.indexOf("?");
  if (q < 0) return ABSENT;
  let end = url.indexOf("#", q);
  if (end < 0) end = url.length;
  let first = -1;
  let firstEnd = -1;
  let start = q + 1;
  // The first "=" at or after `start`, searched again only once a pair has gone past it (a
  // search per pair of "a&a&a&..." would scan to the query's end each time).
  let eq = url.indexOf("=", start);
  while (start < end) {
    let stop = url.indexOf("&", start);
    if (stop < 0 || stop > end) stop = end;
    if (eq >= 0 && eq < start) eq = url.indexOf("=", start);
    const nameEnd = eq >= 0 && eq < stop ? eq : stop;
    if (nameEnd > start && isName(url, start, nameEnd, name)) {
      const value = nameEnd === stop ? stop : nameEnd + 1;
      if (first < 0) {
        first = value;
        firstEnd = stop;
      } else if (!sameQueryValue(url, first, firstEnd, value, stop)) return AMBIGUOUS;
    }
    start = stop + 1;
  }
  return firstEnd > first ? PRESENT : ABSENT;
}

function isName(url: string, start: number, end: number, name: string): boolean {
  if (end - start === name.length && url.startsWith(name, start)) return true;
  // Only a name with an escape or a "+" can be the name spelled otherwise.
  for (let i = start; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x25 || c === 0x2b) return decodeQueryComponent(url.slice(start, end)) === name;
  }
  return false;
}

function sameQueryValue(url: string, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (sameRange(url, a, aEnd, b, bEnd)) return true;
  return decodeQueryComponent(url.slice(a, aEnd)) === decodeQueryComponent(url.slice(b, bEnd));
}
