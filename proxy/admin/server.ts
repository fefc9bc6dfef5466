// The admin API: a plain node:http server on its own (loopback by default) port, separate from
// the proxy listener so that probes, scrapes and operators never compete with traffic and the
// API is never exposed where traffic is. Read endpoints are open; mutating ones need the token;
// every one answers only a Host that names this server (host-check.ts: DNS rebinding).
// Mutations (reload, drain, breaker overrides) are cluster proposals: they answer once committed.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { hostname } from "node:os";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { BREAKER_OVERRIDES, type BreakerOverride } from "../../config/state/commands.js";
import type { ExpositionSink } from "../metrics/exposition-stream.js";
import { canonicalKeyText } from "../routing/key-text.js";
import { answerClientError } from "../server/client-error.js";
import { capConnections } from "../server/connection-cap.js";
import { lingerAfterAnswer } from "../server/linger-close.js";
import { testDurationMs } from "../test-duration.js";
import { checkAdminToken } from "./auth.js";
import { hostAllowed } from "./host-check.js";
import { htmlSafeJson } from "./html-safe-json.js";
import { handleOpsRoute, OPS_WRITE_PATH } from "./ops-routes.js";
import { closeAfterOverflow, discardUpTo } from "./overflow-close.js";
import { redactTarget } from "./redact.js";
import type {
  AdminBackend,
  AdminError,
  AdminResult,
  ExpositionWriter,
  RouteExplanationView,
} from "./types.js";
import { serveUi } from "./ui-route.js";

const JSON_TYPE = "application/json; charset=utf-8";
const DRAIN_PATH = /^\/admin\/pools\/([^/]+)\/members\/([^/]+)\/(drain|undrain)$/;
const BREAKER_PATH = /^\/admin\/pools\/([^/]+)\/members\/([^/]+)\/breaker$/;
const FAULT_PATH = /^\/admin\/debug\/(cut|heal)$/;
/** admin.maxBodySize's default, for servers built without limits (tests). */
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/**
 * Keys one GET /admin/routes may ask for: a bound on the work of one request (the URL is bounded
 * by the server's header size anyway); a caller with more keys asks again.
 */
const MAX_ROUTE_KEYS = 1000;
/** admin.maxConnections' default. */
const DEFAULT_MAX_CONNECTIONS = 64;
/**
 * The admin port's warnings (a foreign Host refused, a connection refused past the cap) are
 * logged at most once per this long: a flood must not become a log flood. A test that waits
 * for the next line shortens it with SHARDGATE_TEST_ADMIN_LOG_EVERY_MS (../test-duration.ts).
 */
export const ADMIN_LOG_EVERY_MS = testDurationMs("ADMIN_LOG_EVERY_MS", 10_000);

function bodyTooLarge(max: number): AdminError {
  return { status: 413, error: "body_too_large", message: `request body over ${max} bytes` };
}

/**
 * Reads a small JSON body; "" -> undefined. Errors are AdminErrors (too large, not JSON).
 * Bound to the server's body cap in createAdminServer.
 */
function readJsonUpTo(
  max: number,
  req: IncomingMessage,
): Promise<{ ok: true; value: unknown } | { ok: false; err: AdminError }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: { ok: true; value: unknown } | { ok: false; err: AdminError }) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        // The 413 closes the connection, after at most a fixed allowance of the rest is read.
        if (!done) closeAfterOverflow(req);
        finish({ ok: false, err: bodyTooLarge(max) });
        return;
      }
      if (!done) chunks.push(c);
    });
    req.on("error", () =>
      finish({ ok: false, err: { status: 400, error: "bad_request", message: "request body aborted" } }),
    );
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return finish({ ok: true, value: undefined });
      try {
        finish({ ok: true, value: JSON.parse(text) });
      } catch {
        finish({
          ok: false,
          err: { status: 400, error: "bad_request", message: "request body is not valid JSON" },
        });
      }
    });
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function send(res: ServerResponse, status: number, body: unknown, retryAfterS?: number): void {
  const text = `${htmlSafeJson(body)}\n`;
  const headers: Record<string, string | number> = {
    "content-type": JSON_TYPE,
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  };
  if (retryAfterS !== undefined) headers["retry-after"] = String(retryAfterS);
  // The rest of an oversized body is not read: the connection closes after the answer.
  if (status === 413) headers.connection = "close";
  res.writeHead(status, headers);
  res.end(text);
}

/**
 * backend.explainRoute for the text `hashed`; the answer's `key` is the one given, `hashedAs` the
 * text when it differs, and `why` (the key text's reason for reading no key) leads the note.
 */
function explainKey(
  backend: AdminBackend,
  pool: string,
  given: string,
  hashed: string,
  why?: string,
): AdminResult<RouteExplanationView> {
  const r = backend.explainRoute(pool, hashed);
  if (r.ok && hashed !== given) {
    r.value.key = given;
    r.value.hashedAs = hashed;
    if (why !== undefined) r.value.note = r.value.note === undefined ? why : `${why}; ${r.value.note}`;
  }
  return r;
}

function sendError(res: ServerResponse, e: AdminError): void {
  send(
    res,
    e.status,
    e.detail === undefined
      ? { error: e.error, message: e.message }
      : { error: e.error, message: e.message, detail: e.detail },
    e.retryAfterS,
  );
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

const MALFORMED_PATH: AdminError = {
  status: 400,
  error: "bad_request",
  message: "malformed percent-encoding in path",
};

/** The pool and member of a member path (drain, breaker), or undefined when a segment is malformed. */
function memberOf(m: RegExpExecArray): { pool: string; member: string } | undefined {
  const pool = decode(m[1]);
  const member = decode(m[2]);
  return pool === undefined || member === undefined ? undefined : { pool, member };
}

/** Sends a backend result: 200 with the value (after `logOk`), else its coded error. */
function sendResult<T>(res: ServerResponse, r: AdminResult<T>, logOk: (value: T) => void): void {
  if (!r.ok) {
    sendError(res, r.err);
    return;
  }
  logOk(r.value);
  send(res, 200, r.value);
}

export interface AdminServerOptions {
  backend: AdminBackend;
  logger: Logger;
  /** The admin port's timeouts (admin.timeouts over listen.timeouts, ms): idle admin connections are not kept forever either. */
  timeouts?: { request: number; headers: number; idle: number; keepAlive: number };
  /** admin.maxConnections / admin.maxBodySize (defaults 64 and 64 KiB). */
  limits?: { maxConnections: number; maxBodySize: number };
  /**
   * Whether a Host header names this admin server (host-check.ts; read per request, so a reload
   * of admin.allowedHosts applies). Absent: addresses, dotless names and the machine's name.
   */
  hostAllowed?: (host: string | undefined) => boolean;
}

/** The longest Host text quoted back in a host_not_allowed answer. */
const MAX_QUOTED_HOST = 100;

function hostNotAllowed(host: string): AdminError {
  const shown = host.length > MAX_QUOTED_HOST ? `${host.slice(0, MAX_QUOTED_HOST)}...` : host;
  return {
    status: 421,
    error: "host_not_allowed",
    message: `Host ${JSON.stringify(shown)} does not name this admin server (a DNS-rebinding page would send it); list the name in admin.allowedHosts to accept it`,
  };
}

export function createAdminServer(opts: AdminServerOptions): Server {
  const { backend, logger } = opts;
  const log = logger.child({ component: "admin" });
  const maxBody = opts.limits?.maxBodySize ?? DEFAULT_MAX_BODY_BYTES;
  const readJson = (req: IncomingMessage) => readJsonUpTo(maxBody, req);
  let hostRefused = 0;
  let hostRefusedLogged = Number.NEGATIVE_INFINITY;
  const namesUs =
    opts.hostAllowed ?? hostAllowed({ listenHost: "", machineName: hostname(), fleet: [], allowedHosts: [] });

  /**
   * Logs a foreign-Host refusal (any path: a plain request or one with Expect: 100-continue) at
   * most once per ADMIN_LOG_EVERY_MS, with how many were refused since the last line: a page
   * looping on fetch() must not become a log flood.
   */
  function noteHostRefused(req: IncomingMessage): void {
    hostRefused++;
    const now = performance.now();
    if (now - hostRefusedLogged < ADMIN_LOG_EVERY_MS) return;
    hostRefusedLogged = now;
    log.warn(
      {
        code: "host_not_allowed",
        remote: req.socket.remoteAddress,
        host: req.headers.host?.slice(0, MAX_QUOTED_HOST),
        path: redactTarget(req.url),
        refused: hostRefused,
      },
      "admin request refused: the Host does not name this server (admin.allowedHosts)",
    );
    hostRefused = 0;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The path and query are parsed against a fixed base: the Host header is not trusted for anything.
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://admin.invalid");
    } catch {
      discardUpTo(req, res, maxBody);
      sendError(res, { status: 400, error: "bad_request", message: "malformed request target" });
      return;
    }
    const path = url.pathname;
    const method = req.method ?? "GET";
    // Before anything is read or answered: a page that rebound its own name to this address
    // must learn nothing, not even which paths exist.
    if (!namesUs(req.headers.host)) {
      noteHostRefused(req);
      discardUpTo(req, res, maxBody);
      return sendError(res, hostNotAllowed(req.headers.host ?? ""));
    }
    // A declared length over the cap is refused before its body is taken, on every path (what
    // still arrives is dropped, up to the drain allowance: overflow-close.ts).
    if (declaresOver(req, maxBody)) {
      closeAfterOverflow(req, res);
      return sendError(res, bodyTooLarge(maxBody));
    }
    // Only the breaker and fault-injection endpoints read a body; consume every other one so
    // keep-alive clients are not stalled, but never more than the cap (a chunked flood).
    if (
      !BREAKER_PATH.test(path) &&
      !FAULT_PATH.test(path) &&
      !OPS_WRITE_PATH.test(path) &&
      path !== "/admin/cache/purge"
    )
      discardUpTo(req, res, maxBody);
    const read = method === "GET" || method === "HEAD";

    if (path === "/healthz") {
      if (!read) return methodNotAllowed(res, "GET");
      send(res, 200, { status: "ok" });
      return;
    }
    if (path === "/readyz") {
      if (!read) return methodNotAllowed(res, "GET");
      const r = backend.readiness();
      if (r.ready && r.degraded === true)
        send(res, 200, { ready: true, degraded: true, reason: r.reason, detail: r.detail });
      else if (r.ready) send(res, 200, { ready: true });
      else send(res, 503, { ready: false, reason: r.reason, detail: r.detail });
      return;
    }
    if (path === "/metrics") {
      if (!read) return methodNotAllowed(res, "GET");
      const m = await backend.metrics();
      if ("body" in m) {
        res.writeHead(200, { "content-type": m.contentType, "content-length": Buffer.byteLength(m.body) });
        res.end(m.body);
      } else if (method === "HEAD") {
        res.writeHead(200, { "content-type": m.contentType });
        res.end();
      } else await streamMetrics(res, m.contentType, m.stream);
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
      const text = canonicalKeyText(
        key,
        url.searchParams.get("source"),
        backend.keyRules?.(),
        backend.keyDefaultPort?.(),
      );
      if (!text.ok) return sendError(res, { status: 400, error: "bad_parameter", message: text.message });
      const r = explainKey(backend, pool, key, text.key, text.why);
      if (!r.ok) return sendError(res, r.err);
      const affinity = await backend.explainAffinity?.(
        pool,
        text.key,
        url.searchParams.get("cookie") ?? "",
        url.searchParams.get("route") ?? undefined,
      );
      // An affinity that honours a remembered member overrides the ring's choice.
      if (affinity !== undefined) r.value.affinity = affinity;
      if (affinity?.member != null && affinity.source !== "ring") r.value.member = affinity.member;
      send(res, 200, r.value);
      return;
    }
    if (path === "/admin/routes") {
      if (!read) return methodNotAllowed(res, "GET");
      const pool = url.searchParams.get("pool");
      const keys = url.searchParams.getAll("key");
      if (pool === null || pool === "" || keys.length === 0) {
        sendError(res, {
          status: 400,
          error: "missing_parameter",
          message: "query parameters 'pool' and at least one 'key' are required",
        });
        return;
      }
      if (keys.length > MAX_ROUTE_KEYS) {
        sendError(res, {
          status: 400,
          error: "too_many_keys",
          message: `at most ${MAX_ROUTE_KEYS} keys per request, got ${keys.length}`,
        });
        return;
      }
      const source = url.searchParams.get("source");
      // Every key is explained before the first await: one ring snapshot answers them all.
      const routes: RouteExplanationView[] = [];
      const hashed: string[] = [];
      for (const key of keys) {
        const text = canonicalKeyText(key, source, backend.keyRules?.(), backend.keyDefaultPort?.());
        if (!text.ok) return sendError(res, { status: 400, error: "bad_parameter", message: text.message });
        const r = explainKey(backend, pool, key, text.key, text.why);
        if (!r.ok) return sendError(res, r.err);
        routes.push(r.value);
        hashed.push(text.key);
      }
      if (backend.explainAffinity !== undefined)
        for (const [i, r] of routes.entries()) {
          const affinity = await backend.explainAffinity(pool, hashed[i], "", undefined);
          if (affinity !== undefined) r.affinity = affinity;
          if (affinity?.member != null && affinity.source !== "ring") r.member = affinity.member;
        }
      send(res, 200, { pool, routes });
      return;
    }
    if (path === "/admin/cache/purge") {
      if (!writeAllowed(req, res)) return;
      if (backend.purgeCache === undefined) {
        discardUpTo(req, res, maxBody);
        return sendError(res, { status: 404, error: "no_cache", message: "no route has a cache" });
      }
      const body = await readJson(req);
      if (!body.ok) return sendError(res, body.err);
      const r = await backend.purgeCache(body.value);
      if (r.ok) {
        log.info({ purge: r.value }, "cache purged via admin API");
        send(res, 200, r.value);
      } else sendError(res, r.err);
      return;
    }
    if (path === "/admin/reload") {
      if (!writeAllowed(req, res)) return;
      log.info({ remote: req.socket.remoteAddress }, "reload requested via admin API");
      const r = await backend.reload();
      if (r.ok) send(res, 200, { reloaded: true, ...r.value });
      else sendError(res, r.err);
      return;
    }
    const drain = DRAIN_PATH.exec(path);
    if (drain !== null) {
      if (!writeAllowed(req, res)) return;
      const at = memberOf(drain);
      if (at === undefined) return sendError(res, MALFORMED_PATH);
      const r = await backend.setDraining(at.pool, at.member, drain[3] === "drain");
      return sendResult(res, r, (v) =>
        log.info(
          { ...at, draining: v.draining, ringVersion: v.ringVersion },
          "member drain flag set via admin API",
        ),
      );
    }
    const breaker = BREAKER_PATH.exec(path);
    if (breaker !== null) {
      if (!writeAllowed(req, res)) return;
      const at = memberOf(breaker);
      const body = await readJson(req);
      if (at === undefined) return sendError(res, MALFORMED_PATH);
      if (!body.ok) return sendError(res, body.err);
      const state = isObject(body.value) ? body.value.state : undefined;
      if (
        !isObject(body.value) ||
        Object.keys(body.value).length !== 1 ||
        typeof state !== "string" ||
        !(BREAKER_OVERRIDES as readonly string[]).includes(state)
      ) {
        sendError(res, {
          status: 400,
          error: "bad_request",
          message: 'expected a JSON body {"state": "open" | "closed" | "auto"}',
        });
        return;
      }
      const r = await backend.setBreaker(at.pool, at.member, state as BreakerOverride);
      return sendResult(res, r, (v) =>
        log.info(
          { ...at, override: state, ringVersion: v.ringVersion },
          "breaker override set via admin API",
        ),
      );
    }
    const fault = FAULT_PATH.exec(path);
    if (fault !== null) {
      if (!writeAllowed(req, res)) return;
      const body = await readJson(req);
      if (!body.ok) return sendError(res, body.err);
      let peer: string | undefined;
      if (body.value !== undefined) {
        const p = isObject(body.value) ? body.value.peer : undefined;
        if (!isObject(body.value) || (p !== undefined && (typeof p !== "string" || p === ""))) {
          sendError(res, {
            status: 400,
            error: "bad_request",
            message: 'expected no body or {"peer": "<node id>"}',
          });
          return;
        }
        peer = p as string | undefined;
      }
      const r = backend.fault(fault[1] as "cut" | "heal", peer);
      if (r.ok) {
        log.warn(
          { action: fault[1], peer: peer ?? "all", cut: r.value.cut },
          "fault injection via admin API",
        );
        send(res, 200, r.value);
      } else sendError(res, r.err);
      return;
    }
    if (backend.ops !== undefined) {
      const http = { send, sendError, readJson, writeAllowed, methodNotAllowed };
      if (await handleOpsRoute(backend.ops, () => backend.state(), http, req, res, url)) return;
    }
    if (serveUi(req, res, path)) return;
    sendError(res, { status: 404, error: "not_found", message: `no admin endpoint ${method} ${path}` });
  }

  function authorized(req: IncomingMessage, res: ServerResponse): boolean {
    const a = checkAdminToken(req, backend.adminToken());
    if (a.ok) return true;
    log.warn(
      { remote: req.socket.remoteAddress, path: redactTarget(req.url), status: a.status },
      "admin request refused",
    );
    sendError(res, { status: a.status, error: a.code, message: a.message });
    return false;
  }

  /**
   * A write endpoint's preamble: POST with the admin token. Otherwise answers (405 or 401/403)
   * and drains any request body, so the keep-alive connection stays usable; false then.
   */
  function writeAllowed(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== "POST") {
      discardUpTo(req, res, maxBody);
      methodNotAllowed(res, "POST");
      return false;
    }
    if (!authorized(req, res)) {
      discardUpTo(req, res, maxBody);
      return false;
    }
    return true;
  }

  function methodNotAllowed(res: ServerResponse, allow: string): void {
    res.setHeader("allow", allow);
    sendError(res, { status: 405, error: "method_not_allowed", message: `use ${allow}` });
  }

  const t = opts.timeouts;
  const options =
    t === undefined
      ? {}
      : {
          requestTimeout: t.request,
          headersTimeout: t.request > 0 ? Math.min(t.headers, t.request) : t.headers,
          keepAliveTimeout: t.keepAlive,
          connectionsCheckingInterval: Math.max(25, Math.min(30_000, Math.floor((t.headers || 30_000) / 4))),
        };
  const server = createServer(options, (req, res) => {
    // Every answer, JSON, metrics text or the page, is read as the type it declares: a browser
    // led to an admin URL must not sniff a reflected value into HTML.
    res.setHeader("x-content-type-options", "nosniff");
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, "admin handler failed");
      if (!res.headersSent)
        sendError(res, { status: 500, error: "internal", message: "internal error; see the log" });
      else res.destroy();
    });
  });
  // `Expect: 100-continue`: Node's default answers 100 before any handler runs, so a client
  // told to go ahead sent a body over the cap and met the 413 (and the close) mid-upload as a
  // broken pipe. A declared length over the cap is refused instead of the 100, on every path;
  // any other request gets its 100 and is handled as usual (the "request" listeners, the
  // connection cap's among them, see it as an ordinary request).
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    // The Host first, as on the main path: a foreign Host learns nothing, not even the body cap.
    if (!namesUs(req.headers.host)) {
      // No 100: the body is never invited. Logged and counted as on the main path.
      noteHostRefused(req);
      res.setHeader("x-content-type-options", "nosniff");
      res.setHeader("connection", "close");
      return sendError(res, hostNotAllowed(req.headers.host ?? ""));
    }
    if (declaresOver(req, maxBody)) {
      res.setHeader("x-content-type-options", "nosniff");
      return sendError(res, bodyTooLarge(maxBody));
    }
    res.writeContinue();
    server.emit("request", req, res);
  });
  if (t !== undefined) server.timeout = t.idle;
  const maxConnections = opts.limits?.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  // Monotonic: a wall clock stepped back would silence this warning for as long as the step.
  let refusedLogged = Number.NEGATIVE_INFINITY;
  // No upgrades here: a request offering one (`Upgrade: websocket`, `Connection: upgrade`) was
  // handed to the cap's 'upgrade' listener, which only pinned it, and was never answered nor
  // timed out; 64 of them (admin.maxConnections) held every slot for good, and /healthz,
  // /readyz and /metrics answered 503 too_many_connections to every probe and scrape
  // (test/outside/admin-upgrade-offer.test.ts). Now it is answered as the request it is.
  capConnections(server, {
    max: maxConnections,
    reclaim: "no-request",
    tls: false,
    upgrades: false,
    onRefused: () => {
      const now = performance.now();
      if (now - refusedLogged < ADMIN_LOG_EVERY_MS) return;
      refusedLogged = now;
      log.warn(
        { code: "too_many_connections", maxConnections },
        "admin connection refused: every connection is busy with a request (admin.maxConnections)",
      );
    },
  });
  // What the parser refuses (headers too slow or too large, malformed) gets the proxy port's
  // coded JSON answer (408 request_timeout, 431, 414, 400), not a bare 400 without a body.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket));
  // CONNECT (a tunnel request): a coded 405, not Node's silent close without an answer.
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => {});
    socket.write(CONNECT_REFUSED);
    lingerAfterAnswer(socket);
  });
  return server;
}

const CONNECT_REFUSED_BODY = `${JSON.stringify({ error: "method_not_allowed", message: "CONNECT is not an admin method; use GET or POST" })}\n`;
const CONNECT_REFUSED =
  "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\n" +
  `X-Content-Type-Options: nosniff\r\nAllow: GET, HEAD, POST\r\nContent-Length: ${Buffer.byteLength(CONNECT_REFUSED_BODY)}\r\n` +
  `Connection: close\r\n\r\n${CONNECT_REFUSED_BODY}`;

/** Whether the request declares a Content-Length over `max` (chunked bodies are counted as read). */
function declaresOver(req: IncomingMessage, max: number): boolean {
  return Number(req.headers["content-length"] ?? 0) > max;
}

/**
 * Sends a sliced exposition chunked (its length is not known until the last slice). A failure
 * after the headers went out can no longer become a coded error: the connection is cut, so the
 * scraper sees a truncated body (an error), never a short body that looks complete.
 */
async function streamMetrics(
  res: ServerResponse,
  contentType: string,
  stream: ExpositionWriter,
): Promise<void> {
  res.writeHead(200, { "content-type": contentType });
  const sink: ExpositionSink = {
    write: (chunk) => res.write(chunk),
    drain: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      }),
    closed: () => res.destroyed || res.writableEnded,
  };
  try {
    await stream(sink);
    res.end();
  } catch {
    res.destroy();
  }
}
