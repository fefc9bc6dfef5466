// `OPTIONS *` (asterisk-form, RFC 9110 section 9.3.7): a question about the server as a whole,
// not about a resource. Answered here, 200 with the methods the data port forwards (`Allow`, the
// list a 405 names) and no body, over HTTP/1.x and HTTP/2 alike (HTTP/2 allows `:path` "*" only
// with OPTIONS; nghttp2 resets any other method's stream). Not routed: "*" is under no route's
// path prefix, it carries no path or query key, and to the client the server as a whole is the
// fleet, so no member's answer (each of which may differ) speaks for it. Envoy refuses the
// form; this answer is what a load balancer's `OPTIONS *` liveness probe or a capability check
// expects. It runs in the data plane, so it keeps its place among pipelined requests and gets
// an access line like any answer.

import type { IncomingMessage } from "node:http";
import { ALLOWED_METHODS } from "../server/refused-method.js";
import type { RequestContext } from "./request-context.js";

/** What the data plane's resolve step answers for `OPTIONS *` instead of an error code. */
export const SERVER_OPTIONS = "server_options" as const;

/** Whether `req` is `OPTIONS *` (the caller has seen that its target is not origin-form). */
export function isServerOptions(req: IncomingMessage): boolean {
  return req.url === "*" && req.method === "OPTIONS";
}

/** The 200 answer to `OPTIONS *`. */
export function answerServerOptions(ctx: RequestContext): void {
  const res = ctx.res;
  if (res === null || res.headersSent) return;
  ctx.status = 200;
  res.statusCode = 200;
  res.setHeader("allow", ALLOWED_METHODS);
  res.setHeader("content-length", 0);
  res.setHeader("x-request-id", ctx.requestId);
  // A body is allowed on OPTIONS and means nothing here: not read, so an HTTP/1.x connection
  // closes after the answer rather than parse it as the next request (HTTP/2 resets the stream).
  if (ctx.hasBody && !ctx.req.complete && ctx.req.httpVersionMajor === 1)
    res.setHeader("connection", "close");
  res.end();
}
