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
//   a server or log reading `:authority` saw the other, the same split a Host mismatching an
//   absolute-form target would be (HTTP/1.1 refuses absolute-form outright). Compared as RFC
//   3986 section 6.2 normalizes: case-insensitive, and the scheme's default port or an empty
//   one is no port.

import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { ERRORS, type ErrorCode, errorBody, NOSNIFF } from "../errors.js";
import { isHostAndPort } from "../forward/request-checks.js";
import { newRequestId } from "../forward/request-id.js";
import { MAX_REQUEST_LINE } from "./client-error.js";

/** Whether the target carries a `#` (no request-target may: it starts a fragment). */
export function hasFragment(target: string | undefined): boolean {
  return target !== undefined && target.indexOf("#") >= 0;
}

/** Null when an HTTP/2 request's target may be forwarded, else the error to answer on its stream. */
export function h2TargetError(req: Http2ServerRequest): ErrorCode | null {
  const path = req.headers[":path"];
  if (typeof path === "string") {
    if (path.length > MAX_REQUEST_LINE) return "uri_too_long";
    if (hasFragment(path)) return "fragment_in_target";
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
