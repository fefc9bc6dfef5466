// The GOAWAY a client gets when Node ends its HTTP/2 session for an nghttp2 error or for its
// abuse, and that it gets one at all. Measured on Node 20 with raw frames:
// - A WINDOW_UPDATE taking a window past 2^31-1 (RFC 9113 section 6.9.1: FLOW_CONTROL_ERROR)
//   reaches JS as an error numbered NGHTTP2_ERR_FLOW_CONTROL, and Node's session.destroy(error)
//   sends GOAWAY INTERNAL_ERROR for every error it is given; nghttp2's own FLOW_CONTROL_ERROR
//   GOAWAY, queued just after, is then dropped. On a stream's window nghttp2 first sends the
//   RST_STREAM FLOW_CONTROL_ERROR the RFC asks for, and Node still ends the whole connection
//   (which section 5.4.2 allows): now with GOAWAY FLOW_CONTROL_ERROR.
// - A flood nghttp2 ends by its outbound-queue limit (ACKs of PINGs or SETTINGS the client left
//   unread) or its CONTINUATION limit got GOAWAY INTERNAL_ERROR, and the client seldom saw even
//   that: Node destroys the socket as soon as its FIN is written, with the flood's bytes still
//   unread in the kernel, so the kernel sends RST, and an RST makes the client's kernel drop what
//   it had not yet read, the GOAWAY included (a flooding client reading as it sends: no GOAWAY in
//   4 of 4 runs). Now GOAWAY ENHANCE_YOUR_CALM, as Envoy sends for its flood limits, and the
//   socket lingers (reading and dropping) for LINGER_MS after its FIN before it is destroyed, as
//   Envoy's delayed close does, so the GOAWAY arrives. The rapid-reset guard's ENHANCE_YOUR_CALM
//   (h2-reset-guard.ts) ends its session through the same destroy, so it lingers alike: a
//   node:http2 client still resetting streams over TLS read no GOAWAY (3 of 3 runs), reset by
//   the kernel before it read.
// - Over TLS a flooding client got no GOAWAY at all, only close_notify (a node:http2 client's
//   'goaway' never fired, 10 of 10 runs). Node's native session writes nothing while a write of
//   its own is in flight, and it sends the GOAWAY only when the session is destroyed: a write
//   to a TLS socket always completes a turn later (Node's TLS layer reports it asynchronously),
//   so during a flood one is nearly always in flight, the GOAWAY stays queued, and nothing sends
//   it once the session is gone. So over TLS such a destroy waits one turn: Node completes that
//   write (and sends what it had queued) in its native immediates, which run before this
//   process's setImmediate callbacks in the same turn, and then finds nothing in flight. A
//   connection whose kernel buffers are full at that moment still loses it, over h2c as well:
//   that write completes only when the client reads.
// Node gives no other hook: the error reaches the session's 'error' listeners only after the
// GOAWAY was queued. So each session's destroy is replaced by one that names the code when
// Node's own call carries none; the same stand-in bounds the socket of a session ending after a
// graceful close (h2-closed-socket.ts). A session's socket is Node's internal kSocket: without
// it the code is still right, and the socket is destroyed (or left open) as before.

import { constants, type Http2Session } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { boundClosedSocket } from "./h2-closed-socket.js";
import { NGHTTP2_ERR_FLOODED, NGHTTP2_ERR_TOO_MANY_CONTINUATIONS } from "./h2-session-error.js";
import { LINGER_MS } from "./linger-close.js";
import { internalMissing } from "./node-internals.js";

/** nghttp2's NGHTTP2_ERR_FLOW_CONTROL. */
const NGHTTP2_ERR_FLOW_CONTROL = -524;

/** The GOAWAY code for each nghttp2 error Node destroys a session with. */
const GOAWAY_FOR: ReadonlyMap<number, number> = new Map([
  [NGHTTP2_ERR_FLOW_CONTROL, constants.NGHTTP2_FLOW_CONTROL_ERROR],
  [NGHTTP2_ERR_FLOODED, constants.NGHTTP2_ENHANCE_YOUR_CALM],
  [NGHTTP2_ERR_TOO_MANY_CONTINUATIONS, constants.NGHTTP2_ENHANCE_YOUR_CALM],
]);

/** The GOAWAY codes that end a session for the client's abuse: the client must be able to read them. */
const ABUSE_CODES: ReadonlySet<number> = new Set(GOAWAY_FOR.values());

type Destroy = (this: Http2Session, error?: unknown, code?: number) => void;

/** Http2Session's own destroy, found on the first session. */
let baseDestroy: Destroy | null = null;

/** Set on a session whose destroy waits a turn (over TLS): later calls change nothing, as after a destroy. */
const kEnding = Symbol("shardgate.h2Ending");
type Ending = Http2Session & { [kEnding]?: true };

/**
 * Called for each new server session: its nghttp2 errors end it with the GOAWAY code they mean,
 * and its socket is destroyed within bounds however it ends.
 */
export function answerSessionErrors(session: Http2Session): void {
  if (baseDestroy === null) baseDestroy = Object.getPrototypeOf(session).destroy as Destroy;
  (session as unknown as { destroy: Destroy }).destroy = destroyWithCode;
}

function destroyWithCode(this: Ending, error?: unknown, code?: number): void {
  if (this[kEnding]) return;
  // Once destroyed, a later call changes nothing (Node's destroy returns): the socket is left alone.
  if (!this.destroyed) {
    const mapped = code === undefined ? goawayFor(error) : undefined;
    if (mapped !== undefined) code = mapped;
    const socket = socketOf(this);
    // After a graceful close Node never destroys the socket at all (h2-closed-socket.ts), so
    // there is no destroy to turn into a linger: the socket is bounded instead.
    if (this.closed) {
      if (socket !== undefined) boundClosedSocket(socket);
    } else if (code !== undefined && ABUSE_CODES.has(code)) {
      lingerOnDestroy(socket);
      if ((socket as TLSSocket | undefined)?.encrypted === true) {
        this[kEnding] = true;
        setImmediate(destroyNextTurn, this, error, code);
        return;
      }
    }
  }
  (baseDestroy as Destroy).call(this, error, code);
}

function destroyNextTurn(session: Ending, error: unknown, code: number): void {
  session[kEnding] = undefined;
  // Closed meanwhile (the client's GOAWAY NO_ERROR read in the same turn, after its resets):
  // Node then ends the socket and never destroys it, so the linger never starts. A client
  // sending resets then GOAWAY and never reading held its socket past LINGERING_TIME_MS (5 of
  // 5 after 35 s); it is bounded as after any graceful close.
  if (session.closed && !session.destroyed) {
    const socket = socketOf(session);
    if (socket !== undefined) boundClosedSocket(socket);
  }
  (baseDestroy as Destroy).call(session, error, code);
}

/** The GOAWAY code for the nghttp2 error `error` carries, undefined for any other error. */
function goawayFor(error: unknown): number | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const errno = (error as { errno?: unknown }).errno;
  return typeof errno === "number" ? GOAWAY_FOR.get(errno) : undefined;
}

/** The socket's destroy before lingering took its place (the listener's connection cap wraps it). */
const kOwnDestroy = Symbol("shardgate.h2OwnDestroy");
type Lingering = Socket & { [kOwnDestroy]?: Socket["destroy"] };

/**
 * Node ends the socket (FIN after the GOAWAY) and then destroys it: that destroy is turned into
 * reading and dropping the client's input for LINGER_MS, then the socket's own destroy.
 */
function lingerOnDestroy(s: Socket | undefined): void {
  const socket = s as Lingering | undefined;
  if (socket === undefined || socket.destroyed || socket[kOwnDestroy] !== undefined) return;
  socket[kOwnDestroy] = socket.destroy;
  socket.destroy = lingeringDestroy;
}

function lingeringDestroy(this: Lingering): Lingering {
  // Only the first call lingers; the timer's call below, and any later one, destroy at once, by
  // the destroy the socket had: the connection cap's, which frees the slot (connection-cap.ts),
  // was skipped when the prototype's was put back, and the slot then waited for 'close'.
  this.destroy = this[kOwnDestroy] as Socket["destroy"];
  this.on("error", noop);
  this.on("data", noop);
  this.resume();
  const timer = setTimeout(() => this.destroy(), LINGER_MS);
  timer.unref();
  this.once("close", () => clearTimeout(timer));
  return this;
}

function noop(): void {}

let socketKey: symbol | null | undefined;

/** The session's own socket (Node's kSocket; `session.socket` is a proxy refusing resume and destroy). */
function socketOf(session: Http2Session): Socket | undefined {
  if (socketKey === undefined) {
    socketKey = Object.getOwnPropertySymbols(session).find((s) => s.description === "socket") ?? null;
    if (socketKey === null)
      internalMissing(
        "Http2Session[kSocket]",
        "a session ended for a flood is destroyed without lingering; one ended after a graceful close waits for the client's FIN",
      );
  }
  if (socketKey === null) return undefined;
  const socket = (session as unknown as Record<symbol, unknown>)[socketKey];
  return socket !== null && typeof socket === "object" ? (socket as Socket) : undefined;
}
