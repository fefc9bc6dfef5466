// How the data plane drives http-proxy-3 per request. The library's public `web()` wraps its
// passes in a variadic function that builds a rest-args array, spreads the options into a
// fresh object and re-checks the target on every call; the passes themselves only read the
// options. So the forwarder calls the instance's own pass list directly with the member's
// preallocated (already normalized) options object: same library code, none of that churn.
// Also: the response-head copy for attempts that handle the response themselves (gateway-
// error retries), done with the library's own outgoing passes, and discarding a response.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { ProxyServer, ServerOptions } from "http-proxy-3";
import { OUTGOING_PASSES } from "http-proxy-3/dist/lib/http-proxy/passes/web-outgoing.js";

type ErrorCallback = (err: Error, req: IncomingMessage, res: unknown, target?: unknown) => void;
type WebPass = (
  req: IncomingMessage,
  res: ServerResponse,
  options: ServerOptions,
  head: undefined,
  server: ProxyServer,
  cb: ErrorCallback,
) => unknown;
type OutgoingPass = (
  req: IncomingMessage,
  res: ServerResponse,
  proxyRes: IncomingMessage,
  options: ServerOptions,
) => void;

/** Forwards one request with options built once per member (target an object, prependPath set). */
export type WebForwarder = (req: IncomingMessage, res: ServerResponse, options: ServerOptions) => void;

const OUTGOING: readonly OutgoingPass[] = Object.values(OUTGOING_PASSES) as unknown as OutgoingPass[];

/**
 * A forwarder over `proxy`'s web passes, reporting errors to `onError`. Falls back to the
 * public `proxy.web` when the instance does not expose the pass list this was written for
 * (a future http-proxy-3 that reorganized its internals).
 */
export function webForwarder(proxy: ProxyServer, onError: ErrorCallback): WebForwarder {
  const passes = (proxy as unknown as { webPasses?: unknown }).webPasses;
  const usable =
    Array.isArray(passes) &&
    passes.every((p) => typeof p === "function") &&
    passes.some((p: { name?: string }) => p.name === "stream");
  if (!usable) {
    return (req, res, options) => {
      proxy.web(req, res, options, onError as never);
    };
  }
  const list = passes as WebPass[];
  return (req, res, options) => {
    for (let i = 0; i < list.length; i++) {
      if (list[i](req, res, options, undefined, proxy, onError)) break;
    }
  };
}

export function isGatewayError(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** Copies status and headers of `proxyRes` to `res` (as http-proxy-3 does) and pipes the body. */
export function writeProxiedHead(
  req: IncomingMessage,
  res: ServerResponse | null,
  proxyRes: IncomingMessage,
  options: ServerOptions | null,
): void {
  if (res === null || options === null) {
    proxyRes.destroy();
    return;
  }
  if (!res.headersSent) for (let i = 0; i < OUTGOING.length; i++) OUTGOING[i](req, res, proxyRes, options);
  if (!res.writableEnded) proxyRes.pipe(res);
  else proxyRes.resume();
}

/** Small bodies are read to the end so the keep-alive socket is reused; others cut the socket. */
const DRAIN_LIMIT = 64 * 1024;

/** Drops an upstream response nobody will see, without holding its socket. */
export function discardResponse(proxyRes: IncomingMessage): void {
  const cl = proxyRes.headers["content-length"];
  const n = cl === undefined ? Number.NaN : Number(cl);
  if (proxyRes.complete || (n >= 0 && n <= DRAIN_LIMIT)) proxyRes.resume();
  else proxyRes.destroy();
}
