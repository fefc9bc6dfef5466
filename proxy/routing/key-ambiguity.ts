// Whether a request spells a key source two ways. Routing joins a header's repeated lines with
// ", " (README, Keys), but a member reads them its own way: Go's Header.Get and Java's getHeader
// take the first line, PHP the last. Under a rate limit every spelling is a bucket of its own,
// so `X-Api-Key: k` sent twice, or an empty line then `k`, escaped the limit of the key the member
// sees. The same holds for a cookie or query parameter named twice with different values (first
// wins here and in Go; Django's cookies and PHP's $_GET take the last, Express's qs a list).
// Nothing is allocated for a request whose sources are each sent once.

import type { IncomingMessage } from "node:http";
import {
  cookieValueAt,
  cookieValueEnd,
  decodeQueryComponent,
  isQuoted,
  type KeyPlan,
  sourceValue,
} from "./key-extract.js";

/**
 * The first source of `plan` that `req` sends ambiguously before a source gives the key: a header
 * on more than one line (HTTP/1.1 lines, HTTP/2 fields; the key is read from whichever comes
 * first, so an empty line counts too), a cookie or query parameter named again with another
 * value. "" when there is none. Sources after the one that gives the key are never read.
 */
export function ambiguousKeySource(plan: KeyPlan, req: IncomingMessage): string {
  const keys = plan.keys;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    switch (k.kind) {
      case "header":
      case "header3":
        if (headerLines(req.rawHeaders, k.name) > 1) return `header:${k.name}`;
        break;
      case "cookie": {
        // HTTP/2 cookie crumbs (RFC 9113 8.2.3) and repeated HTTP/1.1 Cookie lines reach us as
        // one list joined with "; ": only the same name with another value is ambiguous.
        const c = req.headers.cookie;
        if (c !== undefined && cookieDiffers(c, k.needle)) return `cookie:${k.name}`;
        break;
      }
      case "query":
      case "query3":
        if (queryDiffers(req.url ?? "", k.name)) return `query:${k.name}`;
        break;
    }
    if (sourceValue(plan, k, req) !== "") return "";
  }
  return "";
}

/** How many of `raw`'s lines (name, value pairs; names as sent) name `name` (lower case); stops at 2. */
function headerLines(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length && n < 2; i += 2) if (sameName(raw[i], name)) n++;
  return n;
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

/** Whether cookie `needle` ("name=") is in `header` more than once with values that differ. */
function cookieDiffers(header: string, needle: string): boolean {
  let first = cookieValueAt(header, needle, 0);
  if (first < 0) return false;
  let firstEnd = cookieValueEnd(header, first);
  if (isQuoted(header, first, firstEnd)) {
    first++;
    firstEnd--;
  }
  let from = firstEnd;
  for (;;) {
    let start = cookieValueAt(header, needle, from);
    if (start < 0) return false;
    let end = cookieValueEnd(header, start);
    from = end;
    if (isQuoted(header, start, end)) {
      start++;
      end--;
    }
    if (!sameRange(header, first, firstEnd, start, end)) return true;
  }
}

function sameRange(s: string, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; a + i < aEnd; i++) if (s.charCodeAt(a + i) !== s.charCodeAt(b + i)) return false;
  return true;
}

/**
 * Whether query parameter `name` is in `url`'s query more than once with values that
 * differ, names and values compared as URLSearchParams reads them (a pair without "=" is the name
 * with an empty value, so `?k&k=a` is two values). One pass over the query.
 */
function queryDiffers(url: string, name: string): boolean {
  const q = url.indexOf("?");
  if (q < 0) return false;
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
      } else if (!sameQueryValue(url, first, firstEnd, value, stop)) return true;
    }
    start = stop + 1;
  }
  return false;
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
