// Protocol checks on a parsed request before it is routed (RFC 9112 and nginx's behaviour):
// only HTTP/1.x is spoken here (505 otherwise); an HTTP/1.1 request carries exactly one Host
// (RFC 9112 section 3.2: 400 when it is missing or repeated) and that Host is a host[:port],
// nothing more: `api.example.com:80@evil` must not match the route for api.example.com and
// then reach the upstream verbatim. Allocation-free: char-code loops over the raw strings.

import type { IncomingMessage } from "node:http";
import type { ErrorCode } from "../errors.js";
import { isH2Request } from "./h2-request.js";

/** Null when the request may be routed, else the error to answer. */
export function requestProtocolError(req: IncomingMessage): ErrorCode | null {
  // HTTP/2 comes through the h2 listener (proxy/server/h2-listener.ts), never this parser.
  if (req.httpVersionMajor !== 1 && !isH2Request(req)) return "http_version_not_supported";
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (isHostName(raw[i])) hosts++;
  if (hosts > 1) return "invalid_host";
  const host = req.headers.host;
  if (host === undefined) return req.httpVersionMinor >= 1 ? "invalid_host" : null;
  if (host === lastValidHost) return null;
  if (!isHostAndPort(host)) return "invalid_host";
  lastValidHost = host;
  return null;
}

/**
 * The last Host value found valid. Clients send the same few hosts request after request, and
 * comparing with the last one (a length check and a memory compare) is cheaper than the
 * character scan. Starts as a valid host, so only valid values ever match.
 */
let lastValidHost = "localhost";

/**
 * Whether the connection must close after answering `code`: the request was refused for its
 * request line or headers, so where it (or the next request on the connection) ends may be
 * read differently by whoever sent it (a front proxy smuggling a second request behind a bad
 * Host). nginx and HAProxy close after such a 400 too.
 */
export function closesConnection(code: ErrorCode): boolean {
  return code === "bad_request" || code === "invalid_host" || code === "http_version_not_supported";
}

function isHostName(name: string): boolean {
  return (
    name.length === 4 &&
    (name.charCodeAt(0) | 0x20) === 0x68 &&
    (name.charCodeAt(1) | 0x20) === 0x6f &&
    (name.charCodeAt(2) | 0x20) === 0x73 &&
    (name.charCodeAt(3) | 0x20) === 0x74
  );
}

/** RFC 3986 reg-name characters (unreserved, pct-encoded's '%', sub-delims). */
function isRegNameChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x7e || // ~
    c === 0x25 || // %
    c === 0x21 || // !
    c === 0x24 || // $
    (c >= 0x26 && c <= 0x2c) || // & ' ( ) * + ,
    c === 0x3b || // ;
    c === 0x3d // =
  );
}

/** `uri-host [ ":" port ]` with an IP-literal in brackets or a reg-name; port is 1-5 digits. */
export function isHostAndPort(v: string): boolean {
  const n = v.length;
  if (n === 0 || n > 1024) return false;
  let i = 0;
  if (v.charCodeAt(0) === 0x5b /* [ */) {
    const close = v.indexOf("]");
    if (close < 2) return false;
    for (let j = 1; j < close; j++) {
      const c = v.charCodeAt(j);
      const hex = (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
      if (!hex && c !== 0x3a && c !== 0x2e) return false;
    }
    i = close + 1;
  } else {
    while (i < n && isRegNameChar(v.charCodeAt(i))) i++;
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (v.charCodeAt(i) !== 0x3a /* : */) return false;
  const digits = n - i - 1;
  if (digits < 1 || digits > 5) return false;
  for (let j = i + 1; j < n; j++) {
    const c = v.charCodeAt(j);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
