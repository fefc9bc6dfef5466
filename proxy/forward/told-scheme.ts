// The scheme a member is told in X-Forwarded-Proto, read one way for the three things that state
// it: the X-Forwarded-Proto and the Forwarded element this hop writes (headers.ts) and the shared
// cache's key (shared-cache.ts). Told one scheme in one field and another in the other, a member
// builds its links from whichever its framework reads first, and the entry holds them whatever
// the key says.

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
