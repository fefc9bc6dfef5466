// The scheme a member is told in X-Forwarded-Proto, read one way for the three things that state
// it: the X-Forwarded-Proto and the Forwarded element this hop writes (headers.ts) and the shared
// cache's key (shared-cache.ts). Told one scheme in one field and another in the other, a member
// builds its links from whichever its framework reads first, and the entry holds them whatever
// the key says. A trusted proxy may state it in either field (HAProxy's `option forwarded` writes
// only Forwarded); X-Forwarded-Proto decides when it sends both.

import { forwardedFor } from "../routing/forwarded.js";

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

/** A quoted-string (skipped whole, even unterminated), or a proto= pair's value at the start of a pair. */
const QUOTED_OR_PROTO = /"(?:[^"\\]|\\.)*"?|(?:^|[;,])[ \t]*proto=("(?:[^"\\]|\\.)*"|[^;,\s"]*)/gi;

/**
 * The scheme the first proto= of a trusted proxy's Forwarded names (forwardedScheme's reading of
 * its value); "" when no pair is proto= or its value names no scheme. A "proto=" inside a quoted
 * value (`for="_x;proto=https"`) is no pair, and a malformed header names none: it is ignored
 * whole, as the `ip` key ignores it (forwardedFor), rather than half believed.
 */
export function forwardedProtoScheme(header: string): string {
  if (forwardedFor(header) === undefined) return "";
  for (const m of header.matchAll(QUOTED_OR_PROTO)) {
    const value = m[1];
    if (value === undefined) continue;
    return forwardedScheme(value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value);
  }
  return "";
}
