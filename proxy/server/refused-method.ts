// Methods the edge answers itself and never forwards. TRACE (RFC 9110 section 9.3.8) makes the
// upstream echo the request back, its Cookie and Authorization headers and whatever the edge
// added (X-Forwarded-*, Forwarded, the request id) included: cross-site tracing (XST) reads
// what a script could not, and the echo shows the internal headers to anyone. nginx answers
// TRACE 405 itself; Envoy and HAProxy deployments deny it by rule. CONNECT (a tunnel) is not
// proxied either; Node hands it to the 'connect' event, so proxy-server.ts answers it there.

import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { ERRORS, errorBody, NOSNIFF } from "../errors.js";
import { newRequestId } from "../forward/request-id.js";

/** What the data port does forward, for the Allow header of a 405. */
export const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/** Whether `method` (case-sensitive, RFC 9110 section 9.1) is refused at the edge. */
export function isRefusedMethod(method: string | undefined): boolean {
  return method === "TRACE";
}

/**
 * The 405 method_not_allowed answer with Allow. HTTP/1.x closes the connection after it (a
 * TRACE body, which the request may carry, is never read); HTTP/2 has no Connection header
 * and its stream simply ends.
 */
export function answerMethodNotAllowed(res: ServerResponse | Http2ServerResponse, http2: boolean): void {
  const id = newRequestId();
  const body = errorBody("method_not_allowed", id);
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "x-content-type-options": NOSNIFF,
    "content-length": Buffer.byteLength(body),
    "x-request-id": id,
    allow: ALLOWED_METHODS,
  };
  if (!http2) headers.connection = "close";
  res.writeHead(ERRORS.method_not_allowed.status, headers);
  res.end(body);
}
