// The request path as it is routed and forwarded, normalised per RFC 3986 section 6.2.2 (as
// Envoy's `normalize_path`): percent-encoded unreserved characters decoded (6.2.2.2: "%2e" is
// ".", "%41" is "A"), the hex of the remaining percent-encodings upper-cased (6.2.2.1), then
// dot segments removed (5.2.4). Without it "/api/../x" matched the "/api" route and the upstream
// (or any later hop) resolved it to "/x": a route's prefix was no boundary.
// Reserved characters stay encoded ("%2F" is not a separator, "%5C" not a backslash), empty
// segments ("//") stay as they are, and the query string is never touched.

const PERCENT = 0x25;
const SLASH = 0x2f;
const DOT = 0x2e;
const QUERY = 0x3f;

/**
 * `url` (origin-form: starts with "/") with its path normalised; `url` itself, unallocated, when
 * the path holds no "%" and no "." right after a "/" (nothing to normalise: one scan).
 */
export function normalizePath(url: string): string {
  let end = url.length;
  let needed = false;
  for (let i = 0; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c === QUERY) {
      end = i;
      break;
    }
    if (c === PERCENT || (c === DOT && i > 0 && url.charCodeAt(i - 1) === SLASH)) needed = true;
  }
  if (!needed) return url;
  const path = removeDotSegments(decodeUnreserved(url.slice(0, end)));
  const result = end === url.length ? path : path + url.slice(end);
  return result === url ? url : result;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 section 2.3). */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === DOT ||
    c === 0x5f ||
    c === 0x7e
  );
}

/** "%2e" -> ".", "%2f" -> "%2F"; a "%" not followed by two hex digits is left as it is. */
function decodeUnreserved(path: string): string {
  if (path.indexOf("%") < 0) return path;
  let out = "";
  let from = 0;
  for (let at = path.indexOf("%"); at >= 0 && at + 2 < path.length; at = path.indexOf("%", at + 1)) {
    const hi = hexValue(path.charCodeAt(at + 1));
    const lo = hexValue(path.charCodeAt(at + 2));
    if (hi < 0 || lo < 0) continue;
    const c = hi * 16 + lo;
    out +=
      path.slice(from, at) +
      (isUnreserved(c) ? String.fromCharCode(c) : path.slice(at, at + 3).toUpperCase());
    from = at + 3;
    at += 2;
  }
  return from === 0 ? path : out + path.slice(from);
}

/** RFC 3986 section 5.2.4 for an absolute path: "/a/./b/../c" -> "/a/c", "/.." -> "/". */
function removeDotSegments(path: string): string {
  const segments = path.slice(1).split("/");
  const out: string[] = [];
  let trailingSlash = false;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === ".") {
      trailingSlash = last;
    } else if (s === "..") {
      out.pop();
      trailingSlash = last;
    } else {
      out.push(s);
    }
  }
  // A path ending in a dot segment names a directory: "/b/c/.." is "/b/", not "/b".
  return trailingSlash && out.length > 0 ? `/${out.join("/")}/` : `/${out.join("/")}`;
}
