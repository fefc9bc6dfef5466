// Checks on the request-target that HTTP/1.1 and HTTP/2 share, so both listeners refuse the
// same targets with the same codes:
// - A fragment (`/a#b`): RFC 9112 section 3.2 and RFC 9113 section 8.3.1 give the
//   request-target no fragment (a client keeps it to itself). Node's parser and nghttp2 take
//   the `#`, and it was forwarded upstream, where one server strips it and another routes on
//   it (a cache key or an ACL that differs from what shardgate matched). Refused 400
//   fragment_in_target, as HAProxy refuses `#`, never stripped: a client that sends one is
//   broken or probing.
// - HTTP/2 `:path` over MAX_REQUEST_LINE (8 KB): 414 uri_too_long, the limit an HTTP/1.1
//   request line has (request-framing.ts). h2 had none but the header list size (16 KB), so a
//   12 KB path refused on HTTP/1.1 was forwarded over h2. `:authority` is a host[:port] and
//   is held to what a Host header is (request-checks.ts, 1,024 bytes at most), also when a
//   Host header beside it made it unread: it was let through at any size.
// - HTTP/2 Host beside an `:authority` that names another origin: malformed (RFC 9113
//   section 8.3.1), 400 invalid_host on the stream. The Host won (h2-request.ts keeps it) while
//   a server or log reading `:authority` saw the other, the split a Host beside another
//   absolute-form authority would be (HTTP/1.1 makes the authority the Host, below). Compared as RFC
//   3986 section 6.2 normalizes: case-insensitive, and the scheme's default port or an empty
//   one is no port.
// - HTTP/1.x absolute-form (`GET http://host:port/p?q HTTP/1.1`): a server MUST accept it (RFC
//   9112 section 3.2.2), and its authority, not the Host header, names the host (section 7.2).
//   It was refused 400. Now it is rewritten before routing into the origin form and a Host equal
//   to the authority, so the route, the keys (path, query, header:host), X-Forwarded-Host and
//   the request sent upstream are what `GET /p?q` with that Host gives. Only `http`/`https`
//   targets with a host and no userinfo (RFC 9110 section 4.2.4 treats userinfo as an error)
//   are taken; authority-form (`host:port`, CONNECT's), asterisk-form (`*`) and any other
//   scheme stay 400 bad_request, a bad authority 400 invalid_host. HTTP/2 has no absolute-form
//   (`:path` is origin-form, RFC 9113 section 8.3.1): refused there as before. Origin-form
//   targets never reach this (the caller tests the first byte).
// - HTTP/2 `:path` with a character outside visible ASCII: nghttp2 lets bytes 0x80-0xff by,
//   Node reads them as latin1 (0x9b, the C1 CSI, is U+009B), and they were forwarded to the
//   member and written in the access log. HTTP/1.1's parser refuses every such byte in the
//   request-target: 400 bad_request on the stream, as there.

import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { ERRORS, type ErrorCode, errorBody, NOSNIFF } from "../errors.js";
import { isHostAndPort } from "../forward/request-checks.js";
import { newRequestId } from "../forward/request-id.js";
import { MAX_REQUEST_LINE } from "./client-error.js";

/** A character an HTTP/1.1 request-target may not hold: controls, space, DEL, anything past ASCII. */
const NOT_TARGET_CHAR = /[^\u0021-\u007e]/;

/** Whether the target carries a `#` (no request-target may: it starts a fragment). */
export function hasFragment(target: string | undefined): boolean {
  return target !== undefined && target.indexOf("#") >= 0;
}

/**
 * Rewrites an HTTP/1.x absolute-form target in place (`req.url` to origin form, `req.headers.host`
 * to its authority) and returns null; else the error for a target that is not origin-form.
 */
export function toOriginForm(req: IncomingMessage): ErrorCode | null {
  if (req.httpVersionMajor !== 1) return "bad_request";
  const target = req.url ?? "";
  const n = target.length;
  // "http" or "https" in any letter case (RFC 3986 section 3.1), then "://".
  if (
    n < 8 ||
    (target.charCodeAt(0) | 0x20) !== 0x68 ||
    (target.charCodeAt(1) | 0x20) !== 0x74 ||
    (target.charCodeAt(2) | 0x20) !== 0x74 ||
    (target.charCodeAt(3) | 0x20) !== 0x70
  )
    return "bad_request";
  const colon = (target.charCodeAt(4) | 0x20) === 0x73 ? 5 : 4;
  if (!target.startsWith("://", colon)) return "bad_request";
  const start = colon + 3;
  let end = start;
  while (end < n) {
    const c = target.charCodeAt(end);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) break;
    end++;
  }
  const authority = target.slice(start, end);
  if (authority.indexOf("@") >= 0) return "bad_request";
  if (!isHostAndPort(authority)) return "invalid_host";
  // An empty path is "/" in origin form (RFC 9112 section 3.2.1): `http://h?q` is `/?q`.
  req.url = end === n || target.charCodeAt(end) === 0x3f ? `/${target.slice(end)}` : target.slice(end);
  req.headers.host = authority;
  return null;
}

/** Null when an HTTP/2 request's target may be forwarded, else the error to answer on its stream. */
export function h2TargetError(req: Http2ServerRequest): ErrorCode | null {
  const path = req.headers[":path"];
  if (typeof path === "string") {
    if (path.length > MAX_REQUEST_LINE) return "uri_too_long";
    if (hasFragment(path)) return "fragment_in_target";
    if (NOT_TARGET_CHAR.test(path)) return "bad_request";
  }
  const authority = req.headers[":authority"];
  if (typeof authority === "string" && authority !== "") {
    if (!isHostAndPort(authority)) return "invalid_host";
    const host = req.headers.host;
    if (host !== undefined) {
      const scheme = req.headers[":scheme"];
      const port = scheme === "https" ? ":443" : scheme === "http" ? ":80" : null;
      if (typeof host !== "string" || normalAuthority(host, port) !== normalAuthority(authority, port))
        return "invalid_host";
    }
  }
  return null;
}

/** `value` lower-cased, without an empty port or the scheme's default one (`defaultPort`, e.g. ":80"). */
function normalAuthority(value: string, defaultPort: string | null): string {
  let v = value.toLowerCase();
  if (v.endsWith(":")) v = v.slice(0, -1);
  else if (defaultPort !== null && v.endsWith(defaultPort)) v = v.slice(0, -defaultPort.length);
  return v;
}

/** shardgate's JSON error on an HTTP/2 stream: the stream ends, the session goes on. */
export function answerOnStream(res: Http2ServerResponse, code: ErrorCode): void {
  const id = newRequestId();
  const body = errorBody(code, id);
  res.writeHead(ERRORS[code].status, {
    "content-type": "application/json",
    "x-content-type-options": NOSNIFF,
    "content-length": Buffer.byteLength(body),
    "x-request-id": id,
  });
  res.end(body);
}
