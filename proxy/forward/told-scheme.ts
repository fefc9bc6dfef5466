// The scheme a member is told in X-Forwarded-Proto, read one way for the three things that state
// it: the X-Forwarded-Proto and the Forwarded element this hop writes (headers.ts) and the shared
// cache's key (shared-cache.ts). Told one scheme in one field and another in the other, a member
// builds its links from whichever its framework reads first, and the entry holds them whatever
// the key says. A trusted proxy may state it in either field (HAProxy's `option forwarded` writes
// only Forwarded); X-Forwarded-Proto decides when it sends both.

/** A URI scheme (RFC 3986 section 3.1), lower-case, of a length any real one has. */
const SCHEME = /^[a-z][a-z0-9+.-]{0,15}$/;

/**
 * The scheme an X-Forwarded-Proto value names (this hop's, or a trusted proxy's first element),
 * lower-cased; "" when that is no URI scheme (a trusted proxy's empty or garbled value), which is
 * then passed on as it came and left uncached rather than read the way one member might.
 */
export function forwardedScheme(proto: string | string[] | undefined): string {
  if (proto === "http" || proto === "https") return proto;
  if (typeof proto !== "string") return "";
  const comma = proto.indexOf(",");
  const first = (comma < 0 ? proto : proto.slice(0, comma)).trim().toLowerCase();
  return SCHEME.test(first) ? first : "";
}

/** tchar (RFC 9110 5.6.2) by character code below 128: what a Forwarded name or token value is made of. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
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
 * The scheme the first proto= of a trusted proxy's Forwarded names (forwardedScheme's reading of
 * its value); "" when no pair is proto= or its value names no scheme. A malformed header names
 * none: it is ignored whole, as the `ip` key ignores it, by the same grammar as forwardedFor
 * (routing/forwarded.ts: token names, token or quoted-string values, ";" and "," between pairs,
 * spaces around them), and a "proto=" inside a quoted value is no pair. One pass without
 * allocating (only the value found is cut out): behind a proxy that writes Forwarded and no
 * X-Forwarded-Proto it runs on every request, where forwardedFor plus a RegExp took ~1 us.
 */
export function forwardedProtoScheme(header: string): string {
  const n = header.length;
  let proto = "";
  let found = false;
  let i = 0;
  while (i < n) {
    let c = header.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x2c /* , */) {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    const nameEnd = i;
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
    if (nameEnd === nameStart || i >= n || header.charCodeAt(i) !== 0x3d /* = */) return "";
    i++;
    const isProto = !found && nameEnd - nameStart === 5 && namesProto(header, nameStart);
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
        value = escaped ? header.slice(valueStart, i).replace(/\\(.)/g, "$1") : header.slice(valueStart, i);
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
      if (isProto) value = header.slice(valueStart, i);
    }
    if (isProto) {
      proto = value;
      found = true;
    }
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
    if (i < n) {
      c = header.charCodeAt(i);
      if (c === 0x3b) i++;
      else if (c !== 0x2c) return "";
    }
  }
  return found ? forwardedScheme(proto) : "";
}
