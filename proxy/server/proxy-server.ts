// The public HTTP(S) listener: Node's server with the listen timeouts and header-size
// limit from config, requests and upgrades handed to the data plane, and parser-level
// rejections answered as JSON errors (client-error.ts). The caller listens and closes it.

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { ERRORS, type ErrorCode, errorBody, NOSNIFF, rawErrorResponse } from "../errors.js";
import { newRequestId } from "../forward/request-id.js";
import type { ProxyServerInit } from "../forward/types.js";
import { answerClientError, lingeringClientError } from "./client-error.js";
import { type ConnectionCap, capConnections } from "./connection-cap.js";
import { attachHttp2 } from "./h2-listener.js";
import { trackLatestResponse } from "./half-close-answer.js";
import { isLingering, lingerAfterAnswer, lingerIfUnread } from "./linger-close.js";
import { useInternalsLogger } from "./node-internals.js";
import { answerOverloaded, refuseConnectionsWhenOverloaded } from "./overload-gate.js";
import { admitInOrder, heldOn } from "./pipeline-order.js";
import { acceptProxyProtocol } from "./proxy-protocol-accept.js";
import { ALLOWED_METHODS, answerMethodNotAllowed, isRefusedMethod } from "./refused-method.js";
import { behindClosingRequest, markRefused, requestFramingError, wasRefused } from "./request-framing.js";
import { SendTimeouts } from "./send-timeout.js";
import { closeFailedHandshakes, handshakeFailed } from "./tls-handshake-close.js";

const ALLOW = `Allow: ${ALLOWED_METHODS}\r\n`;

export function createProxyServer(init: ProxyServerInit): Server {
  const { dataPlane, logger, listen, overload } = init;
  // A Node internal found missing (node-internals.ts) is said once, at debug.
  useInternalsLogger(logger);
  const t = listen.timeouts;
  // Node requires headersTimeout <= requestTimeout (when the latter is set).
  const requestTimeout = t.request;
  const headersTimeout = requestTimeout > 0 ? Math.min(t.headers, requestTimeout) : t.headers;
  const checkEvery = Math.max(
    25,
    Math.min(30_000, Math.floor(Math.min(headersTimeout || 30_000, requestTimeout || 30_000) / 4)),
  );
  const options = {
    maxHeaderSize: listen.maxHeaderSize,
    requestTimeout,
    headersTimeout,
    keepAliveTimeout: t.keepAlive,
    connectionsCheckingInterval: checkEvery,
    // Reject ambiguous framing (both Content-Length and Transfer-Encoding, bad chunk sizes).
    insecureHTTPParser: false,
    requireHostHeader: false,
  };
  const server: Server =
    init.tls === undefined
      ? createHttpServer(options)
      : (createHttpsServer({
          ...options,
          cert: init.tls.cert,
          key: init.tls.key,
          SNICallback: init.tls.SNICallback,
          // The handshake gets the headers budget: Node's default (120 s) let a client that
          // never sent its ClientHello hold a connection slot 12x longer than a plain-port one.
          handshakeTimeout: headersTimeout > 0 ? headersTimeout : 10_000,
          // h2 first: a client offering both gets HTTP/2 (h2-listener.ts); none or http/1.1 stays HTTP/1.1.
          ALPNProtocols: init.http2 === false ? ["http/1.1"] : ["h2", "http/1.1"],
          // Not half-open during the handshake: a client's FIN there frees its slot at once. Each
          // socket turns half-open as the plain port's are once its handshake is done, so a FIN
          // is then read by the rules for it (clientHalfClose, h2-client-fin.ts): tls-handshake-close.ts.
          allowHalfOpen: false,
        }) as unknown as Server);
  server.timeout = t.idle;
  // Node drops header fields past its count silently; request-framing.ts refuses them instead.
  server.maxHeadersCount = 0;
  // A client's FIN with a request in flight (listen.clientHalfClose). "abort", the default,
  // is Node's own and nginx's (proxy_ignore_client_abort off) and Envoy's: the client left,
  // every request on the connection is cut (499) and its upstream request, bounded-load count
  // and probe slot given back at once. A FIN cannot tell a half-close from a closed tab or a
  // Ctrl-C'd curl, and "answer" holds all of that until the upstream answers. "answer" (HAProxy
  // without abortonclose) serves `nc -N`, HTTP/1.0-style clients and health checks that
  // half-close: the complete requests, pipelined ones included, are answered, then the
  // connection is closed (half-close-answer.ts). A FIN inside an unfinished request is an abort
  // in both (clientError below).
  const answerHalfClose = listen.clientHalfClose === "answer";
  if (answerHalfClose) (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // Absent = the idle timeout (60 s by default, nginx's send_timeout); 0 = off.
  const sendTimeouts = new SendTimeouts(dataPlane, t.send ?? t.idle, (code) => {
    logger.debug({ code }, "client send timeout: the client took no bytes of its answer; connection cut");
    init.onClientError?.(code);
  });
  server.on("close", () => sendTimeouts.close());
  // Bound once: pipeline-order.ts calls it now or when the answers before the request are done.
  // `queuedMs`: the time it waited there, so its logged duration runs from its arrival.
  // The connection cap (listen.maxConnections, set up last, below) is told of each request from
  // this listener, with the data plane's start time when the request ran at once: one 'request'
  // listener and one clock reading per request.
  let cap: ConnectionCap | undefined;
  let started = -1;
  const run = (req: IncomingMessage, res: ServerResponse, queuedMs = 0): void => {
    started = dataPlane.handleRequest(req, res, queuedMs);
    sendTimeouts.trackHttp1(res);
  };
  server.on("request", (req, res) => {
    started = -1;
    handle(req, res);
    if (cap !== undefined) cap.requestStarted(req, started);
  });
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // Closing after an answer sent before the body was read lingers (linger-close.ts).
    lingerIfUnread(req);
    // A request Node parsed from the bytes pipelined behind a refused one: never served.
    if (wasRefused(req.socket)) {
      req.socket.end();
      return;
    }
    // Pipelined behind an HTTP/1.0 request without keep-alive: the connection closes after that
    // one's answer, so this one would run upstream with its answer dropped (the smuggling
    // differential's find). Never served, as bytes after a `Connection: close` request are not.
    // Behind a 1.0 keep-alive request it waits for that answer (pipeline-order.ts).
    if (behindClosingRequest(req, res)) {
      logger.debug({ code: "data_after_close" }, "request pipelined behind an HTTP/1.0 request dropped");
      return;
    }
    // Framing Node accepted but the upstream would not read as the client meant it
    // (request-framing.ts): answered and closed, never forwarded.
    const framing = requestFramingError(req);
    if (framing !== null) {
      init.onClientError?.(framing);
      markRefused(req.socket);
      answerAndClose(res, ERRORS[framing].status, framing);
      return;
    }
    if (isRefusedMethod(req.method)) {
      init.onClientError?.("method_not_allowed");
      markRefused(req.socket);
      answerMethodNotAllowed(res, false);
      return;
    }
    // Over the memory threshold (overload.ts): a new request is shed before it buffers anything.
    if (overload !== undefined && overload.guard.level > 0) {
      overload.onShed("request");
      answerOverloaded(res);
      return;
    }
    // Before the data plane writes the head: a FIN makes this answer the last (half-close-answer.ts).
    if (answerHalfClose) trackLatestResponse(req.socket, res);
    // Pipelined behind an unsafe request, or unsafe behind any: waits its turn (pipeline-order.ts).
    admitInOrder(req, res, run);
  };
  server.on("upgrade", (req, socket: Duplex, head: Buffer) => {
    const framing = isRefusedMethod(req.method) ? "method_not_allowed" : requestFramingError(req);
    if (framing !== null) {
      init.onClientError?.(framing);
      // The upgrade's body or first frames may still be arriving: answer, then linger.
      socket.on("error", noop);
      socket.write(rawErrorResponse(framing, newRequestId(), framing === "method_not_allowed" ? ALLOW : ""));
      lingerAfterAnswer(socket);
      return;
    }
    // A WebSocket holds its buffers for as long as it lives: none is opened over the threshold.
    if (overload !== undefined && overload.guard.level > 0) {
      overload.onShed("request");
      socket.on("error", noop);
      socket.write(rawErrorResponse("overloaded", newRequestId()));
      lingerAfterAnswer(socket);
      return;
    }
    dataPlane.handleUpgrade(req, socket, head);
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A TLS handshake that failed: closed already (tls-handshake-close.ts), never a parser error.
    if (handshakeFailed(socket)) return;
    // After the last answer: a FIN or a timeout inside the rest ends it; the rest is dropped.
    if (isLingering(socket)) {
      lingeringClientError(err, socket);
      return;
    }
    // Bytes after a request that closes the connection (its `Connection: close`, or HTTP/1.0
    // without keep-alive): never a request (RFC 9112 section 9.6), but the requests before
    // them are owed their answers, and Node closes after the last. Answering this error cut
    // them all (499) and sent one 400 instead. Node keeps reading, so nothing is left unread
    // in the kernel to turn the close into a reset.
    if (err.code === "HPE_CLOSED_CONNECTION") {
      logger.debug({ code: "data_after_close" }, "bytes after a closing request dropped");
      return;
    }
    // A request waiting its turn behind pipelined ones (pipeline-order.ts) is unread because
    // shardgate holds it, not because the client is slow: the requests before it are bounded by
    // their own timeouts and the connection by the idle timeout. Answering here would cut the
    // answers in flight before it.
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT" && heldOn(socket) > 0) {
      logger.debug(
        { code: "pipelined_held" },
        "request timeout while a pipelined request waits its turn: ignored",
      );
      return;
    }
    // A body still arriving at the request timeout: the data plane owns that request's one answer.
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT" && dataPlane.clientTimedOut(socket)) {
      logger.debug({ code: "client_timeout" }, "client error");
      init.onClientError?.("client_timeout");
      return;
    }
    answerClientError(
      err,
      socket,
      (code, e) => {
        logger.debug({ code, err: e.code ?? e.message }, "client error");
        init.onClientError?.(code);
      },
      answerHalfClose,
    );
  });
  // CONNECT (a tunnel request) is not proxied: 405 rather than Node's silent close (TRACE: refused-method.ts).
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    init.onClientError?.("method_not_allowed");
    // The tunnel's payload may already be arriving: answer, then linger (linger-close.ts).
    socket.on("error", noop);
    socket.write(rawErrorResponse("method_not_allowed", newRequestId(), ALLOW));
    lingerAfterAnswer(socket);
  });
  // An Expect other than 100-continue: JSON 417 rather than Node's own empty answer.
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    init.onClientError?.("expectation_failed");
    lingerIfUnread(req);
    answerAndClose(res, 417, "expectation_failed");
  });
  if (init.http2 !== false) {
    const open = attachHttp2(server, {
      dataPlane,
      logger,
      maxConcurrentStreams: init.http2?.maxConcurrentStreams ?? 100,
      maxHeaderListSize: listen.maxHeaderSize,
      idleMs: t.idle,
      finGraceMs: t.keepAlive,
      requestTimeoutMs: requestTimeout,
      sendTimeouts,
      sniffTimeoutMs: headersTimeout > 0 ? headersTimeout : 10_000,
      tls: init.tls !== undefined,
      onClientError: init.onClientError,
      overload,
    });
    h2Sessions.set(server, open);
  }
  // After attachHttp2: its 'secureConnection' listener gets sockets already half-open.
  if (init.tls !== undefined) {
    closeFailedHandshakes(server, (err) => {
      logger.debug({ err: err.message }, "tls client error");
      if (err.code === "ERR_TLS_HANDSHAKE_TIMEOUT") init.onClientError?.("tls_handshake_timeout");
      // A reset read from the socket counts as on the plain port (client-error.ts). A FIN inside
      // the handshake (Node's "socket hang up", no syscall) is a balancer's TCP check as often as
      // a client leaving: quiet, as the plain port's FIN before any byte is.
      else if (err.code === "ECONNRESET" && err.syscall !== undefined) init.onClientError?.("client_gone");
      // Anything else is the client's TLS failing (a plain-HTTP request on the TLS port, no
      // shared protocol version, cipher or ALPN, a bad record): counted, as Envoy counts
      // ssl.connection_error, so a misconfigured client or balancer shows on a dashboard.
      else if (err.code !== "ECONNRESET") init.onClientError?.("tls_handshake_failed");
    });
  }
  // After attachHttp2: the PROXY header is consumed first, then the h2c preface is sniffed.
  if (init.proxyProtocol !== undefined) {
    acceptProxyProtocol(server, {
      trusted: init.proxyProtocol.trusted,
      timeoutMs: headersTimeout > 0 ? headersTimeout : 10_000,
      logger,
      onRefused: init.onClientError,
    });
  }
  // Last: the cap stands in front of every connection listener above (HTTP, TLS, h2c, PROXY).
  if (listen.maxConnections !== undefined) {
    cap = capConnections(server, {
      max: listen.maxConnections,
      reclaim: "keep-alive",
      tls: init.tls !== undefined,
      onRefused: () => init.onClientError?.("too_many_connections"),
      onReclaimed: init.onIdleReclaimed,
      listenForRequests: false,
    });
    caps.set(server, cap);
  }
  // In front of the cap: a connection refused for memory never takes a slot.
  if (overload !== undefined)
    refuseConnectionsWhenOverloaded(server, overload.guard, init.tls !== undefined, () =>
      overload.onShed("connection"),
    );
  return server;
}

const caps = new WeakMap<Server, ConnectionCap>();
const h2Sessions = new WeakMap<Server, () => number>();

/** How many HTTP/2 sessions the listener has open now (0 with http2 off). */
export function h2SessionsOf(server: Server): number {
  return h2Sessions.get(server)?.() ?? 0;
}

/** The listener's connection counts (open, idle keep-alive, oldest idle age), when capped. */
export function connectionCapOf(server: Server): ConnectionCap | undefined {
  return caps.get(server);
}

/** shardgate's JSON error on a request the data plane never sees; the connection closes after it. */
function answerAndClose(res: ServerResponse, status: number, code: ErrorCode): void {
  const id = newRequestId();
  const body = errorBody(code, id);
  res.writeHead(status, {
    "content-type": "application/json",
    "x-content-type-options": NOSNIFF,
    "content-length": Buffer.byteLength(body),
    "x-request-id": id,
    connection: "close",
  });
  res.end(body);
}

function noop(): void {}
