// The admin API: a plain node:http server on its own (loopback by default) port, separate from
// the proxy listener so that probes, scrapes and operators never compete with traffic and the
// API is never exposed where traffic is. Read endpoints are open; mutating ones need the token.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "pino";
import { checkAdminToken } from "./auth.js";
import type { AdminBackend, AdminError } from "./types.js";

const JSON_TYPE = "application/json; charset=utf-8";
const DRAIN_PATH = /^\/admin\/pools\/([^/]+)\/members\/([^/]+)\/(drain|undrain)$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "content-type": JSON_TYPE,
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: AdminError): void {
  send(
    res,
    e.status,
    e.detail === undefined
      ? { error: e.error, message: e.message }
      : { error: e.error, message: e.message, detail: e.detail },
  );
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export interface AdminServerOptions {
  backend: AdminBackend;
  logger: Logger;
}

export function createAdminServer(opts: AdminServerOptions): Server {
  const { backend, logger } = opts;
  const log = logger.child({ component: "admin" });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The path and query are parsed against a fixed base: the Host header is not trusted for anything.
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://admin.invalid");
    } catch {
      sendError(res, { status: 400, error: "bad_request", message: "malformed request target" });
      return;
    }
    const path = url.pathname;
    const method = req.method ?? "GET";
    const read = method === "GET" || method === "HEAD";

    if (path === "/healthz") {
      if (!read) return methodNotAllowed(res, "GET");
      send(res, 200, { status: "ok" });
      return;
    }
    if (path === "/readyz") {
      if (!read) return methodNotAllowed(res, "GET");
      const r = backend.readiness();
      if (r.ready) send(res, 200, { ready: true });
      else send(res, 503, { ready: false, reason: r.reason, detail: r.detail });
      return;
    }
    if (path === "/metrics") {
      if (!read) return methodNotAllowed(res, "GET");
      const m = await backend.metrics();
      res.writeHead(200, { "content-type": m.contentType, "content-length": Buffer.byteLength(m.body) });
      res.end(m.body);
      return;
    }
    if (path === "/admin/state") {
      if (!read) return methodNotAllowed(res, "GET");
      send(res, 200, backend.state());
      return;
    }
    if (path === "/admin/route") {
      if (!read) return methodNotAllowed(res, "GET");
      const pool = url.searchParams.get("pool");
      const key = url.searchParams.get("key");
      if (pool === null || pool === "") {
        sendError(res, {
          status: 400,
          error: "missing_parameter",
          message: "query parameter 'pool' is required",
        });
        return;
      }
      if (key === null) {
        sendError(res, {
          status: 400,
          error: "missing_parameter",
          message: "query parameter 'key' is required",
        });
        return;
      }
      const r = backend.explainRoute(pool, key);
      if (r.ok) send(res, 200, r.value);
      else sendError(res, r.err);
      return;
    }
    if (path === "/admin/reload") {
      if (method !== "POST") return methodNotAllowed(res, "POST");
      if (!authorized(req, res)) return;
      log.info({ remote: req.socket.remoteAddress }, "reload requested via admin API");
      const r = await backend.reload();
      if (r.ok) send(res, 200, { reloaded: true, ...r.value });
      else sendError(res, r.err);
      return;
    }
    const drain = DRAIN_PATH.exec(path);
    if (drain !== null) {
      if (method !== "POST") return methodNotAllowed(res, "POST");
      if (!authorized(req, res)) return;
      const pool = decode(drain[1]);
      const member = decode(drain[2]);
      if (pool === undefined || member === undefined) {
        sendError(res, { status: 400, error: "bad_request", message: "malformed percent-encoding in path" });
        return;
      }
      const r = backend.setDraining(pool, member, drain[3] === "drain");
      if (r.ok) {
        log.info({ pool, member, draining: r.value.draining }, "member drain flag set via admin API");
        send(res, 200, r.value);
      } else sendError(res, r.err);
      return;
    }
    sendError(res, { status: 404, error: "not_found", message: `no admin endpoint ${method} ${path}` });
  }

  function authorized(req: IncomingMessage, res: ServerResponse): boolean {
    const a = checkAdminToken(req, backend.adminToken());
    if (a.ok) return true;
    log.warn({ remote: req.socket.remoteAddress, path: req.url, status: a.status }, "admin request refused");
    sendError(res, { status: a.status, error: a.code, message: a.message });
    return false;
  }

  function methodNotAllowed(res: ServerResponse, allow: string): void {
    res.setHeader("allow", allow);
    sendError(res, { status: 405, error: "method_not_allowed", message: `use ${allow}` });
  }

  const server = createServer((req, res) => {
    // Bodies are never read; consume them so keep-alive clients are not stalled.
    req.resume();
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, "admin handler failed");
      if (!res.headersSent)
        sendError(res, { status: 500, error: "internal", message: "internal error; see the log" });
      else res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
  return server;
}
