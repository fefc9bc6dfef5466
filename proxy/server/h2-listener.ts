// HTTP/2 on the public listener, next to HTTP/1.1 on the same port: over TLS the client
// picks h2 by ALPN (the listener offers h2 and http/1.1); on a plain port a client with prior
// knowledge opens with the 24-byte HTTP/2 preface, which is sniffed on the accepted socket
// (h2c-preface.ts) before Node's HTTP/1 parser sees a byte. Either way the socket goes to one
// internal http2 server that never listens (a session factory); its compatibility API hands
// req/res objects to the same data plane as HTTP/1.1, so routing, keys, breakers, metrics and
// the access log are shared. An `Upgrade: h2c` offer stays HTTP/1.1 (upgrade-declined.ts).
//
// Limits: concurrent streams and the header list size are advertised in SETTINGS and
// enforced by nghttp2 (the list size only once the client ACKs them: h2-header-list.ts checks it
// again); a client that opens streams and never reads is held by HTTP/2 flow
// control (each stream's window, then the data plane's backpressure on the upstream), and
// maxSessionMemory bounds what one session may buffer before it is refused.

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createH2Server, type Http2Session, type ServerHttp2Session } from "node:http2";
import type { TLSSocket } from "node:tls";
import type { LogSink } from "../../config/log-sink.js";
import { adaptH2Request } from "../forward/h2-request.js";
import type { DataPlane, ProxyServerInit } from "../forward/types.js";
import { resetAfterAnswer } from "./h2-answered-upload.js";
import { closeOnClientFin } from "./h2-client-fin.js";
import { DeadSessionSweep } from "./h2-dead-session.js";
import { answerSessionErrors } from "./h2-error-goaway.js";
import { headerListOver } from "./h2-header-list.js";
import { H2RequestTimeouts } from "./h2-request-timeout.js";
import { guardResets, isDroppedByResetGuard, type ResetGuardHooks } from "./h2-reset-guard.js";
import { h2SessionErrorCode } from "./h2-session-error.js";
import { sniffH2cPreface } from "./h2c-preface.js";
import { answerOverloadedH2 } from "./overload-gate.js";
import { answerMethodNotAllowed, isRefusedMethod } from "./refused-method.js";
import { answerOnStream, h2TargetError } from "./request-target.js";
import type { SendTimeouts } from "./send-timeout.js";

export interface H2ListenerOptions {
  dataPlane: DataPlane;
  logger: LogSink;
  /** SETTINGS_MAX_CONCURRENT_STREAMS per session. */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (bytes): the listener's maxHeaderSize. */
  maxHeaderListSize: number;
  /** Session inactivity timeout (ms), the listener's idle timeout; 0 = none. */
  idleMs: number;
  /** After a client's bare FIN, how long open streams may finish (ms; keepAlive); 0 = idleMs only. */
  finGraceMs: number;
  /** listen.timeouts.request: how long a request (its body included) may take to arrive (ms); 0 = none. */
  requestTimeoutMs: number;
  /** listen.timeouts.send, shared with the HTTP/1.1 side (send-timeout.ts). */
  sendTimeouts?: SendTimeouts;
  /** How long the first bytes of a plain connection may take (ms): the headers timeout. */
  sniffTimeoutMs: number;
  tls: boolean;
  onClientError?: (code: string) => void;
  /** Memory overload protection: a new stream is answered 503 overloaded while it sheds. */
  overload?: ProxyServerInit["overload"];
}

/** What a session may buffer (MB, nghttp2's accounting) before new streams are refused. */
const MAX_SESSION_MEMORY_MB = 8;

// Flood limits, written out rather than left to Node's defaults (same values as Node 20's) so a
// default that changes cannot loosen them unseen. nghttp2 itself closes a session whose client
// lets 1,000 SETTINGS/PING ACKs or RST_STREAMs queue unread, and one sending more than 8
// CONTINUATION frames per header block (nghttp2 >= 1.61). README "HTTP/2 and gRPC" lists what
// each bounds, measured from a raw frame client (test/outside/h2-abuse-*.test.ts). A session so
// ended is counted and logged once (h2-session-error.ts); one nghttp2 ended with its own GOAWAY,
// which Node neither closes nor reports, is found and closed by h2-dead-session.ts.
/** Malformed frames per session (empty DATA, invalid HEADERS the server resets, ...) before it is destroyed. */
const MAX_INVALID_FRAMES = 1000;
/** Streams refused on one session (over the stream limit or its memory) before it is destroyed. */
const MAX_REJECTED_STREAMS = 100;
/** Entries in one SETTINGS frame. */
const MAX_SETTINGS_ENTRIES = 32;
/** PINGs of ours awaiting their ACK (we send none; a client's PINGs are nghttp2's ACK limit). */
const MAX_OUTSTANDING_PINGS = 10;

/**
 * Makes `server` (created by createProxyServer) speak HTTP/2 too. Call before PROXY protocol wraps
 * it. Returns how many sessions are open (the overload guard's estimate: connection-memory.ts).
 */
export function attachHttp2(server: Server, opts: H2ListenerOptions): () => number {
  const h2 = createH2Server({
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    // nghttp2 also caps the header pairs; the byte limit is the one users configure.
    maxHeaderListPairs: 256,
    maxSessionInvalidFrames: MAX_INVALID_FRAMES,
    maxSessionRejectedStreams: MAX_REJECTED_STREAMS,
    maxSettings: MAX_SETTINGS_ENTRIES,
    maxOutstandingPings: MAX_OUTSTANDING_PINGS,
    settings: {
      maxConcurrentStreams: opts.maxConcurrentStreams,
      maxHeaderListSize: opts.maxHeaderListSize,
      enablePush: false,
    },
  });
  if (opts.idleMs > 0) h2.setTimeout(opts.idleMs);
  const plane = opts.dataPlane;
  const clock = new H2RequestTimeouts(plane, opts.requestTimeoutMs, opts.onClientError ?? noop);
  const onClientError = opts.onClientError ?? noop;
  h2.on("request", (req, res) => {
    // The rest of a rapid-reset flood's read, after the guard closed its session: not routed.
    if (isDroppedByResetGuard(req.stream)) {
      req.stream.destroy();
      return;
    }
    if (isRefusedMethod(req.method)) {
      onClientError("method_not_allowed");
      answerMethodNotAllowed(res, true);
      return;
    }
    // A list over the limit that nghttp2 let through (see h2-header-list.ts): 431, not forwarded.
    if (headerListOver(req.rawHeaders, opts.maxHeaderListSize)) {
      onClientError("headers_too_large");
      answerOnStream(res, "headers_too_large");
      return;
    }
    if (opts.overload !== undefined && opts.overload.guard.level > 0) {
      opts.overload.onShed("request");
      answerOverloadedH2(res);
      return;
    }
    const target = h2TargetError(req);
    if (target !== null) {
      onClientError(target);
      answerOnStream(res, target);
      return;
    }
    adaptH2Request(req);
    resetAfterAnswer(req);
    plane.handleRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    clock.track(req, res);
    opts.sendTimeouts?.trackH2(res);
  });
  const sessions = new Set<ServerHttp2Session>();
  const resetHooks: ResetGuardHooks = {
    onTripped: (session, closed, premature) => {
      onClientError("h2_rapid_reset");
      opts.logger.warn(
        { code: "h2_rapid_reset", remote: session.socket?.remoteAddress, closed, premature },
        "http2 connection closed: most of its streams were reset by the client before an answer (GOAWAY ENHANCE_YOUR_CALM)",
      );
    },
  };
  const dead = new DeadSessionSweep(
    () => sessions,
    (session, closing) => {
      if (closing) {
        // Not counted: nothing tells this from a session whose last stream nghttp2 finished
        // while Node still holds it (its body not yet all read), which is no abuse.
        opts.logger.debug(
          { remote: (session as Remembered)[kRemote] },
          "http2 connection closed: closing gracefully, its open streams can no longer be served",
        );
        session.destroy();
        return;
      }
      onClientError("h2_protocol_error");
      opts.logger.warn(
        { code: "h2_protocol_error", remote: (session as Remembered)[kRemote] },
        "http2 connection closed: nghttp2 had ended it with a GOAWAY for a protocol error, and Node had left it open",
      );
      session.destroy();
    },
  );
  h2.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    (session as Remembered)[kRemote] = session.socket?.remoteAddress;
    dead.watch(session);
    answerSessionErrors(session);
    guardResets(session, resetHooks);
    closeOnClientFin(session, opts.finGraceMs);
    session.on("error", onSessionError);
    session.once("close", () => sessions.delete(session));
  });
  h2.on("sessionError", (err: Error, session: ServerHttp2Session) => {
    const code = h2SessionErrorCode(err);
    if (code === null) {
      opts.logger.debug({ err: err.message }, "http2 session error");
      return;
    }
    // Once per session: Node destroys a session at its first error.
    onClientError(code);
    opts.logger.warn(
      { code, err: err.message, remote: (session as Remembered | undefined)?.[kRemote] },
      "http2 connection closed by nghttp2/Node for abusive or malformed frames",
    );
  });

  if (opts.tls) routeByAlpn(server, h2);
  else sniffH2cPreface(server, h2, opts.sniffTimeoutMs);

  // Node's close() calls closeIdleConnections(), and shutdown calls closeAllConnections():
  // sessions get a GOAWAY (in-flight streams finish) or are destroyed, as HTTP/1 sockets are.
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    for (const s of sessions) if (!s.closed) s.close();
  };
  server.closeAllConnections = () => {
    closeAll();
    clock.close();
    dead.close();
    opts.sendTimeouts?.close();
    for (const s of sessions) s.destroy();
  };
  return () => sessions.size;
}

/** Over TLS the handshake already chose: h2 goes to the session factory, the rest to HTTP/1.1. */
function routeByAlpn(server: Server, h2: ReturnType<typeof createH2Server>): void {
  type Listener = (this: Server, socket: TLSSocket) => void;
  const inner = server.listeners("secureConnection") as Listener[];
  server.removeAllListeners("secureConnection");
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol === "h2") {
      h2.emit("connection", socket);
      return;
    }
    for (const l of inner) l.call(server, socket);
  });
}

function noop(): void {}

// The client's address, kept for the log line of a session error: by then Node has let go of its socket.
const kRemote = Symbol("shardgate.h2remote");
type Remembered = ServerHttp2Session & { [kRemote]?: string };

function onSessionError(this: Http2Session): void {
  // Logged once by the server's 'sessionError'; this keeps it from being uncaught.
}
