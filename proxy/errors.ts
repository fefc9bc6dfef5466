// Every error shardgate itself answers a client with: one registry of stable string codes,
// HTTP statuses and messages (fastify's createError idea). Callers branch on `code`; the
// JSON body is {error: code, message, requestId}. test/proxy/errors.test.ts checks that every
// code here is documented in README.md.

import { htmlSafeJson } from "./admin/html-safe-json.js";

export interface ProxyErrorDef {
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

function def(code: string, status: number, message: string): ProxyErrorDef {
  return Object.freeze({ code, status, message });
}

export const ERRORS = Object.freeze({
  bad_request: def("bad_request", 400, "the request is malformed"),
  missing_key: def("missing_key", 400, "the request carries none of the route's key sources"),
  ambiguous_key: def(
    "ambiguous_key",
    400,
    "the rate limit's key source is sent more than once (a header on several lines, a cookie or query parameter with several values): send it once",
  ),
  invalid_host: def(
    "invalid_host",
    400,
    "the request needs exactly one Host header of the form host[:port] (HTTP/1.1)",
  ),
  method_not_allowed: def("method_not_allowed", 405, "CONNECT and TRACE are not proxied"),
  upgrade_not_supported: def(
    "upgrade_not_supported",
    400,
    "the route's pool speaks HTTP/2 (protocol h2c/h2): WebSocket upgrades are not proxied to it",
  ),
  uri_too_long: def("uri_too_long", 414, "the request target is longer than 8 KB"),
  fragment_in_target: def(
    "fragment_in_target",
    400,
    "the request target carries a #fragment, which is never sent in a request (RFC 9112 section 3.2)",
  ),
  expectation_failed: def("expectation_failed", 417, "only 'Expect: 100-continue' is supported"),
  http_version_not_supported: def(
    "http_version_not_supported",
    505,
    "only HTTP/1.0 and HTTP/1.1 are spoken here",
  ),
  unsupported_transfer_coding: def(
    "unsupported_transfer_coding",
    501,
    "only Transfer-Encoding: chunked is forwarded; another transfer coding is not implemented",
  ),
  no_route: def("no_route", 404, "no route matches the request's host and path"),
  request_timeout: def("request_timeout", 408, "the client did not send the request in time"),
  client_timeout: def(
    "client_timeout",
    408,
    "the client did not finish sending the request body within listen.timeouts.request",
  ),
  rate_limited: def("rate_limited", 429, "the route's rate limit for this key is exhausted; see Retry-After"),
  headers_too_large: def("headers_too_large", 431, "the request headers are too large"),
  upstream_error: def("upstream_error", 502, "the upstream member failed to answer"),
  upstream_connect_failed: def("upstream_connect_failed", 502, "could not connect to an upstream member"),
  upstream_dns: def(
    "upstream_dns",
    502,
    "the upstream member's hostname did not resolve (no such name, a failing or silent resolver)",
  ),
  upstream_reset: def("upstream_reset", 502, "the upstream member closed the connection before answering"),
  upstream_bad_response: def(
    "upstream_bad_response",
    502,
    "the upstream member's answer is not valid HTTP/1.1 (status line, headers or framing)",
  ),
  bad_grpc_timeout: def(
    "bad_grpc_timeout",
    400,
    "a gRPC call's grpc-timeout must be 1 to 8 digits and a unit (H, M, S, m, u or n)",
  ),
  grpc_needs_h2_pool: def(
    "grpc_needs_h2_pool",
    502,
    "the route's pool speaks HTTP/1.1 (protocol http1): gRPC calls are forwarded only to pools with protocol h2c or h2",
  ),
  upstream_no_grpc_status: def(
    "upstream_no_grpc_status",
    502,
    "the upstream member ended the gRPC call without a grpc-status (no trailers)",
  ),
  no_available_member: def("no_available_member", 503, "no member of the pool can take the request"),
  unknown_pool: def("unknown_pool", 503, "the route's pool is not (yet) known to this instance"),
  no_committed_state: def(
    "no_committed_state",
    503,
    "this instance has no committed cluster state yet and no route matches its provisional one",
  ),
  rate_limit_unavailable: def(
    "rate_limit_unavailable",
    503,
    "the rate limit store cannot be reached and the route fails closed",
  ),
  too_many_connections: def(
    "too_many_connections",
    503,
    "the listener holds its maximum of open connections (listen.maxConnections / admin.maxConnections); retry",
  ),
  client_share_exceeded: def(
    "client_share_exceeded",
    503,
    "this client address already has listen.maxUpstreamPerClient requests in flight on the member (answers it has not read yet hold them); never sent to the member; retry once an answer is read",
  ),
  upstream_stream_limit: def(
    "upstream_stream_limit",
    503,
    "the member had no stream for the call (its SETTINGS_MAX_CONCURRENT_STREAMS): it waited past the pool's response timeout, or the member refused it twice; never processed",
  ),
  local_resource_exhausted: def(
    "local_resource_exhausted",
    503,
    "this shardgate instance has no file descriptor or local port left to reach the member (its own limit, not the member's failure); retry",
  ),
  overloaded: def(
    "overloaded",
    503,
    "this shardgate instance is near its memory limit (limits.memory) and sheds new requests until it recovers; retry",
  ),
  shutting_down: def(
    "shutting_down",
    503,
    "this shardgate instance is shutting down and its drain deadline (--drain-timeout) passed before the member answered; not the member's failure; retry",
  ),
  upstream_timeout: def("upstream_timeout", 504, "the upstream member did not answer in time"),
  deadline_exceeded: def("deadline_exceeded", 504, "the gRPC call's own deadline (grpc-timeout) passed"),
});

export type ErrorCode = keyof typeof ERRORS;

/** All registered errors, for documentation checks and the report. */
export const ERROR_LIST: readonly ProxyErrorDef[] = Object.freeze(Object.values(ERRORS));

/**
 * The JSON body shardgate sends for `code`. The request id may be the client's own
 * (X-Request-Id, any visible ASCII): written HTML-safe, a `<script>` in it is never markup.
 */
export function errorBody(code: ErrorCode, requestId: string): string {
  const e = ERRORS[code];
  return htmlSafeJson({ error: e.code, message: e.message, requestId });
}

/**
 * X-Content-Type-Options value on every answer shardgate writes itself (never on a relayed
 * upstream answer): a browser must not sniff an error body that echoes client bytes as HTML.
 */
export const NOSNIFF = "nosniff";

/** A complete raw HTTP/1.1 response for sockets that never became a ServerResponse (clientError, upgrades). */
export function rawErrorResponse(code: ErrorCode, requestId: string, extraHeaders = ""): string {
  const e = ERRORS[code];
  const body = errorBody(code, requestId);
  return (
    `HTTP/1.1 ${e.status} ${STATUS_TEXT[e.status] ?? "Error"}\r\n` +
    "Content-Type: application/json\r\n" +
    "X-Content-Type-Options: nosniff\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    (requestId === "" ? "" : `X-Request-Id: ${requestId}\r\n`) +
    (e.status === 503 ? "Retry-After: 1\r\n" : "") +
    extraHeaders +
    "Connection: close\r\n\r\n" +
    body
  );
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  414: "URI Too Long",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};
