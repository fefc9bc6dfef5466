// Why Node ended an HTTP/2 session, as a client error code: the floods nghttp2 and Node bound
// (ACKs of SETTINGS/PING queued unread past 1,000, a CONTINUATION chain past 8 frames, more than
// maxSessionInvalidFrames malformed frames) and the other protocol errors Node reports. Those
// ended the session silently before (a debug line only), so a flood was invisible to an operator
// who watches shardgate_downstream_client_errors_total, as Envoy's flood counters make it visible.
// A socket error (the client reset the connection) or a GOAWAY the client sent is not the
// client's abuse of the protocol: null.

/** nghttp2's NGHTTP2_ERR_FLOODED: an outbound queue of ACKs or RST_STREAMs the client left unread. */
export const NGHTTP2_ERR_FLOODED = -904;
/** nghttp2's NGHTTP2_ERR_TOO_MANY_CONTINUATIONS (>= 1.61). */
export const NGHTTP2_ERR_TOO_MANY_CONTINUATIONS = -905;

export type H2SessionErrorCode = "h2_flood" | "h2_protocol_error";

export function h2SessionErrorCode(err: unknown): H2SessionErrorCode | null {
  const e = err as { code?: unknown; errno?: unknown } | null;
  if (e === null || typeof e !== "object") return null;
  if (e.code === "ERR_HTTP2_TOO_MANY_INVALID_FRAMES") return "h2_flood";
  // nghttp2's own errors come as ERR_HTTP2_ERROR with its (negative) error number.
  if (e.code !== "ERR_HTTP2_ERROR") return null;
  if (e.errno === NGHTTP2_ERR_FLOODED || e.errno === NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) return "h2_flood";
  return "h2_protocol_error";
}
