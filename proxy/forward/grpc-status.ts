// gRPC over the proxy: a request is gRPC when its content-type is application/grpc[+fmt]
// (gRPC over HTTP/2, "PROTOCOL-HTTP2.md"). Errors shardgate itself answers (no member,
// breaker open, timeout, upstream reset, no route ...) go to such a client as gRPC status,
// not as JSON: HTTP 200, content-type application/grpc and a trailers-only response carrying
// grpc-status and grpc-message, which every gRPC client reads. The `grpc-timeout` request
// header (an integer and a unit H M S m u n) is the call's deadline.

import type { ServerResponse } from "node:http";
import { ERRORS, type ErrorCode } from "../errors.js";

/** gRPC status codes used here (grpc/grpc doc/statuscodes.md). */
export const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNIMPLEMENTED: 12,
} as const;

export function isGrpcContentType(ct: string | string[] | undefined): boolean {
  return (
    typeof ct === "string" &&
    ct.startsWith("application/grpc") &&
    (ct.length === 16 || ct[16] === "+" || ct[16] === ";")
  );
}

/** The gRPC status for a shardgate error code. */
export function grpcStatusFor(code: ErrorCode): number {
  switch (code) {
    case "upstream_timeout":
    case "deadline_exceeded":
    case "client_timeout":
    case "request_timeout":
      return GRPC.DEADLINE_EXCEEDED;
    case "rate_limited":
    case "headers_too_large":
      return GRPC.RESOURCE_EXHAUSTED;
    case "no_route":
    // A configuration mistake, not a passing outage: UNAVAILABLE would invite the client's
    // retry policy to hammer a pool that can never answer the call.
    case "grpc_needs_h2_pool":
      return GRPC.UNIMPLEMENTED;
    // The member answered 200 and ended the call with no status: the call's outcome is
    // unknown, which gRPC calls INTERNAL (a retry policy must not take it for "not processed").
    case "upstream_no_grpc_status":
      return GRPC.INTERNAL;
    case "missing_key":
    case "ambiguous_key":
    case "bad_request":
    case "invalid_host":
      return GRPC.INVALID_ARGUMENT;
    default:
      return ERRORS[code].status >= 500 ? GRPC.UNAVAILABLE : GRPC.INTERNAL;
  }
}

/** The grpc-message of a shardgate error; `pool` (the route's pool, "" if none) is named where it explains the error. */
export function grpcMessageFor(code: ErrorCode, pool: string): string {
  if (code === "grpc_needs_h2_pool")
    return `shardgate ${code}: pool "${pool}" has protocol http1 (HTTP/1.1); gRPC calls are forwarded only to pools with protocol h2c or h2`;
  return `shardgate ${code}: ${ERRORS[code].message}`;
}

/**
 * Answers a gRPC call with shardgate's error as a trailers-only response (headers with
 * END_STREAM). The shardgate code and request id ride along as grpc-message and x-request-id.
 */
export function answerGrpcError(res: ServerResponse, code: ErrorCode, requestId: string, pool = ""): void {
  res.statusCode = 200;
  res.setHeader("content-type", "application/grpc");
  res.setHeader("grpc-status", String(grpcStatusFor(code)));
  res.setHeader("grpc-message", encodeGrpcMessage(grpcMessageFor(code, pool)));
  res.setHeader("x-request-id", requestId);
  res.setHeader("x-shardgate-error", code);
  res.end();
}

/** grpc-message is percent-encoded outside printable ASCII (and '%' itself). */
export function encodeGrpcMessage(msg: string): string {
  let out = "";
  for (const b of Buffer.from(msg, "utf8")) {
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The deadline a `grpc-timeout` value asks for (ms), or -1 when absent or malformed. */
export function parseGrpcTimeout(v: string | string[] | undefined): number {
  if (typeof v !== "string" || v.length < 2 || v.length > 9) return -1;
  const unit = UNIT_MS[v[v.length - 1]];
  if (unit === undefined) return -1;
  const digits = v.slice(0, -1);
  if (!/^[0-9]{1,8}$/.test(digits)) return -1;
  return Number(digits) * unit;
}

/** A remaining deadline (ms) as a grpc-timeout value for the upstream (millisecond unit, at least 1). */
export function formatGrpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  return m < 100_000_000 ? `${m}m` : `${Math.min(99_999_999, Math.ceil(m / 1000))}S`;
}
