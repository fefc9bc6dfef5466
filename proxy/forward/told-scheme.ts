// The scheme a member is told in X-Forwarded-Proto, read one way for the three things that state
// it: the X-Forwarded-Proto and the Forwarded element this hop writes (headers.ts) and the shared
// cache's key (shared-cache.ts). Told one scheme in one field and another in the other, a member
// builds its links from whichever its framework reads first, and the entry holds them whatever
// the key says. A trusted proxy may state it in either field (HAProxy's `option forwarded` writes
// only Forwarded); X-Forwarded-Proto decides when it sends both.

import { addressPart } from "../routing/address-text.js";
import type { TrustedList } from "../routing/cidr-match.js";

/** A URI scheme (RFC 3986 section 3.1), lower-case, of a length any real one has. */
const SCHEME = /^[a-z][a-z0-9+.-]{0,15}$/;

/**
 * The scheme an X-Forwarded-Proto value names (this hop's, or a trusted proxy's), lower-cased;
 * "" when that is no URI scheme (a trusted proxy's empty or garbled value), or when the value is a
 * list whose elements do not all name one scheme: such a value is then passed on as it came and
 * left uncached rather than read the way one member might. A proxy that appends to its client's
 * X-Forwarded-Proto (nginx's and OpenShift's append modes) puts the client's own value first, so
 * a plain client that sent `https` arrived as `https, http`: read by its first element, the key took
 * https and the member was told https alone, where a member reading the last element (Rack) had
 * been told the proxy's http. A list whose elements agree (`https, https`) could only be written
 * by a client the proxy saw on that scheme, and is read as the one scheme. Spaces and tabs around
 * an element are no part of it (RFC 9110 5.6.1); an empty element names no scheme.
 */
export function forwardedScheme(proto: string | string[] | undefined): string {
  if (proto === "http" || proto === "https") return proto;
  if (typeof proto !== "string") return "";
  const comma = proto.indexOf(",");
  let start = 0;
  let end = comma < 0 ? proto.length : comma;
  while (start < end && isSpace(proto.charCodeAt(start))) start++;
  while (end > start && isSpace(proto.charCodeAt(end - 1))) end--;
  const first = proto.slice(start, end).toLowerCase();
  if (!SCHEME.test(first)) return "";
  return comma < 0 || everyElementIs(proto, comma + 1, first) ? first : "";
}

/** Whether each element of the list `text` from `from` on is `scheme` (lower-case) in any case, without cutting any out. */
function everyElementIs(text: string, from: number, scheme: string): boolean {
  let start = from;
  while (start <= text.length) {
    let end = text.indexOf(",", start);
    if (end < 0) end = text.length;
    const next = end + 1;
    while (start < end && isSpace(text.charCodeAt(start))) start++;
    while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
    if (end - start !== scheme.length) return false;
    for (let i = 0; i < scheme.length; i++) {
      const c = text.charCodeAt(start + i);
      // Upper-case ASCII letters only: scheme characters have no other case.
      if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== scheme.charCodeAt(i)) return false;
    }
    start = next;
  }
  return true;
}

/** Whether a character code is a space or a tab (RFC 9110 OWS). */
function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** tchar (RFC 9110 5.6.2) by character code below 128: what a Forwarded name or token value is made of. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** Whether the three characters at `at` spell "for" in any case. */
function namesFor(header: string, at: number): boolean {
  return (
    (header.charCodeAt(at) | 0x20) === 0x66 &&
    (header.charCodeAt(at + 1) | 0x20) === 0x6f &&
    (header.charCodeAt(at + 2) | 0x20) === 0x72
  );
}

/** Whether the five characters at `at` spell "proto" in any case. */
function namesProto(header: string, at: number): boolean {
  return (
    (header.charCodeAt(at) | 0x20) === 0x70 &&
    (header.charCodeAt(at + 1) | 0x20) === 0x72 &&
    (header.charCodeAt(at + 2) | 0x20) === 0x6f &&
    (header.charCodeAt(at + 3) | 0x20) === 0x74 &&
    (header.charCodeAt(at + 4) | 0x20) === 0x6f
  );
}

/**
 * The scheme a trusted proxy's Forwarded names (forwardedScheme's reading of the proto= found);
 * "" when none is found or its value names no scheme. The proto= read is the left-most one among
 * the elements trusted proxies wrote: the last element is the peer's, and an element before one
 * whose for= is a trusted address is that address's; a for= that is untrusted or missing ends the
 * walk, as the ip key's right-to-left walk stops at the first untrusted for=. A proxy that appends
 * to its client's Forwarded (nginx's $proxy_add_forwarded, OpenShift's router by default) passes
 * the client's own elements on in front of its own, so the first proto= of the header let a plain
 * client that sent `Forwarded: proto=https` have this hop tell the member https.
 * A malformed header names none: it is ignored whole, as the `ip` key ignores it, by the same
 * grammar as forwardedFor (routing/forwarded.ts: token names, token or quoted-string values, ";"
 * and "," between pairs, spaces around them), and a "proto=" inside a quoted value is no pair.
 * One pass; only the values read are cut out (a for= node to check, a proto= other than http or
 * https): behind a proxy that writes Forwarded and no X-Forwarded-Proto it runs on every request,
 * where forwardedFor plus a RegExp took ~1 us.
 */
export function forwardedProtoScheme(header: string, trusted: TrustedList): string {
  const n = header.length;
  // The left-most proto= of the trusted-written elements seen so far, and whether there is one.
  let proto = "";
  let found = false;
  // The element being read: its proto= value (if any) and where its for= value is (-1: none).
  // The node is checked only when something found before it hangs on the answer: a header of
  // one element (the common one) costs no trust check (~0.2 us each, a slice and a parse).
  let elementProto: string | undefined;
  let forStart = -1;
  let forEnd = 0;
  let forEscaped = false;
  let sawPair = false;
  let i = 0;
  while (i <= n) {
    let c = i < n ? header.charCodeAt(i) : 0x2c;
    if (c === 0x20 || c === 0x09) {
      i++;
      continue;
    }
    if (c === 0x2c /* , or the end */ && !sawPair) {
      // An empty list element (RFC 9110 5.6.1) is no element.
      i++;
      continue;
    }
    if (c === 0x2c) {
      // An element whose for= is not a trusted address was written by a proxy that can vouch
      // for nothing before it: what was found there is dropped.
      if (found && !trustedNode(header, forStart, forEnd, forEscaped, trusted)) {
        proto = "";
        found = false;
      }
      if (!found && elementProto !== undefined) {
        proto = elementProto;
        found = true;
      }
      elementProto = undefined;
      forStart = -1;
      sawPair = false;
      i++;
      continue;
    }
    const nameStart = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    const nameEnd = i;
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
    if (nameEnd === nameStart || i >= n || header.charCodeAt(i) !== 0x3d /* = */) return "";
    i++;
    const isProto = nameEnd - nameStart === 5 && namesProto(header, nameStart);
    const isFor = nameEnd - nameStart === 3 && namesFor(header, nameStart);
    let value = "";
    if (i < n && header.charCodeAt(i) === 0x22 /* " */) {
      i++;
      const valueStart = i;
      let escaped = false;
      while (i < n && header.charCodeAt(i) !== 0x22) {
        if (header.charCodeAt(i) === 0x5c /* \ */ && i + 1 < n) {
          escaped = true;
          i++;
        }
        i++;
      }
      if (i >= n) return "";
      if (isProto)
        value = escaped ? withoutEscapes(header.slice(valueStart, i)) : header.slice(valueStart, i);
      else if (isFor) {
        forStart = valueStart;
        forEnd = i;
        forEscaped = escaped;
      }
      i++;
    } else {
      const valueStart = i;
      while (i < n) {
        c = header.charCodeAt(i);
        if (c === 0x3b /* ; */ || c === 0x2c || c === 0x20 || c === 0x09) break;
        if (!isTchar(c)) return "";
        i++;
      }
      if (i === valueStart) return "";
      if (isProto) value = tokenScheme(header, valueStart, i);
      else if (isFor) {
        forStart = valueStart;
        forEnd = i;
        forEscaped = false;
      }
    }
    if (isProto && elementProto === undefined) elementProto = value;
    sawPair = true;
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
    if (i < n) {
      c = header.charCodeAt(i);
      if (c === 0x3b) i++;
      else if (c !== 0x2c) return "";
    }
  }
  return found ? forwardedScheme(proto) : "";
}

/**
 * The token at [start, end): the literal "http" or "https" when it spells one (nearly every
 * proto= does), so the common header costs no string cut out of it; otherwise a slice.
 */
function tokenScheme(header: string, start: number, end: number): string {
  const length = end - start;
  if (
    (length === 4 || length === 5) &&
    header.startsWith("http", start) &&
    (length === 4 || header.charCodeAt(start + 4) === 0x73) /* s */
  )
    return length === 4 ? "http" : "https";
  return header.slice(start, end);
}

/** Whether the for= value at [start, end) (a quoted-string's inside when `escaped` says so) is a trusted address. */
function trustedNode(
  header: string,
  start: number,
  end: number,
  escaped: boolean,
  trusted: TrustedList,
): boolean {
  if (start < 0 || end === start) return false;
  const node = header.slice(start, end);
  return trusted.has(addressPart(escaped ? withoutEscapes(node) : node));
}

/** A quoted-string's inside without its backslash escapes. */
function withoutEscapes(quoted: string): string {
  return quoted.replace(/\\(.)/g, "$1");
}
