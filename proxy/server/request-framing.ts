// Framing checks on an HTTP/1.x request head that Node's parser accepted but that shardgate
// cannot forward as the client meant it. Whatever fails here is answered and the connection
// closed: where this request's body (and so the next request) ends is not something the
// upstream would read the same way.
// - Transfer-Encoding other than plain `chunked` (`gzip, chunked`): Node decodes the chunked
//   layer and hands over a body that is still gzip-coded, and the forwarded request carries a
//   Content-Length for it with no word of the coding. RFC 9112 section 6.1: a coding the server
//   does not understand is 501 (nginx answers the same). HTTP/1.0 has no chunked coding at all:
//   any Transfer-Encoding there is ambiguous framing, 400 (RFC 9112 section 6.1, HAProxy).
// - More header fields than MAX_HEADER_FIELDS: Node's parser drops every field past its count
//   limit without a word (a Content-Length or Transfer-Encoding among them: the body is framed
//   by the parser but forwarded as empty; a second Host escapes the invalid_host check). The
//   server's own limit is lifted (proxy-server.ts) and the count is refused here, 431 as Envoy
//   does past its header-count cap.
// - A request line over MAX_REQUEST_LINE (8 KB): 414, as README says and nginx does. client-error.ts
//   gave the 414 only once the line overflowed the whole header budget (listen.maxHeaderSize,
//   16 KB by default), so a 9 KB line was forwarded.
// - A `#fragment` in the target: 400 fragment_in_target (request-target.ts says why).

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { ErrorCode } from "../errors.js";
import { MAX_REQUEST_LINE } from "./client-error.js";
import { hasFragment } from "./request-target.js";

/** Set on a socket once a head on it was refused here: requests parsed after it are not served. */
const kRefused = Symbol("shardgate.framingRefused");
type WithRefused = { [kRefused]?: boolean };

/** Marks `socket`: the bytes after the refused head may be a smuggled request. */
export function markRefused(socket: Duplex | null): void {
  if (socket !== null) (socket as WithRefused)[kRefused] = true;
}

/** Whether a head on `socket` was refused (Node goes on parsing what was pipelined behind it). */
export function wasRefused(socket: Duplex | null): boolean {
  return socket !== null && (socket as WithRefused)[kRefused] === true;
}

/** Set on a socket once a request that closes it arrived: what Node parses behind it is not served. */
const kClosing = Symbol("shardgate.closingRequest");
type WithClosing = { [kClosing]?: boolean };

/**
 * True when `req` came pipelined behind a request whose answer closes the connection (Node's
 * own verdict, res.shouldKeepAlive false: HTTP/1.0 without `Connection: keep-alive`). What
 * Node parsed behind it was forwarded and run upstream, then its answer dropped at the close.
 * An HTTP/1.0 keep-alive request may close its connection too (an answer without a length):
 * what is pipelined behind it waits for that answer (pipeline-order.ts) and is dropped if the
 * connection closed after it.
 */
export function behindClosingRequest(req: IncomingMessage, res: ServerResponse): boolean {
  const socket = req.socket as (Duplex & WithClosing) | null;
  if (socket === null) return false;
  if (socket[kClosing] === true) return true;
  if (req.httpVersionMinor === 0 && !res.shouldKeepAlive) socket[kClosing] = true;
  return false;
}

/** Node's former default count limit: every head Node accepted whole before is still accepted. */
export const MAX_HEADER_FIELDS = 2000;

/** Null when the head may be forwarded, else the error to answer (and close after). */
export function requestFramingError(req: IncomingMessage): ErrorCode | null {
  if (requestLineLength(req) > MAX_REQUEST_LINE) return "uri_too_long";
  if (hasFragment(req.url)) return "fragment_in_target";
  if (req.rawHeaders.length > 2 * MAX_HEADER_FIELDS) return "headers_too_large";
  const te = req.headers["transfer-encoding"];
  if (te === undefined) return null;
  if (req.httpVersionMinor === 0) return "bad_request";
  return isPlainChunked(te) ? null : "unsupported_transfer_coding";
}

/** `METHOD SP target SP HTTP/x.y`, CRLF not counted (Node keeps the target as sent, one char a byte). */
function requestLineLength(req: IncomingMessage): number {
  return (req.method?.length ?? 0) + (req.url?.length ?? 0) + 10;
}

/** `chunked` alone, any case, optional whitespace around it (llhttp already refused the rest). */
function isPlainChunked(v: string): boolean {
  let start = 0;
  let end = v.length;
  while (start < end && (v.charCodeAt(start) === 0x20 || v.charCodeAt(start) === 0x09)) start++;
  while (end > start && (v.charCodeAt(end - 1) === 0x20 || v.charCodeAt(end - 1) === 0x09)) end--;
  if (end - start !== 7) return false;
  const word = "chunked";
  for (let i = 0; i < 7; i++) if ((v.charCodeAt(start + i) | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}
