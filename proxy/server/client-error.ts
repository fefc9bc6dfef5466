// Answers what Node's HTTP parser rejects before a request exists (the 'clientError'
// event): oversized headers -> 431 (a request line over 8 KB -> 414), header/request timeouts
// -> 408, a version the parser refuses -> 505, anything malformed -> 400, each as shardgate's
// JSON error on a closing connection. A FIN that cuts a request's head or body is the client
// leaving: nothing is written (the data plane logs a request in flight 499). A FIN that cuts a head
// pipelined behind complete requests is the client leaving too, unless the listener answers
// half-closed clients (listen.clientHalfClose: answer). Never throws: a broken socket is simply
// destroyed.

import type { Duplex } from "node:stream";
import { type ErrorCode, rawErrorResponse } from "../errors.js";
import { newRequestId } from "../forward/request-id.js";
import { isLingering, lingerAfterAnswer } from "./linger-close.js";

/** nginx's limit for a request line (large_client_header_buffers 8k): longer gets 414, not 431. */
export const MAX_REQUEST_LINE = 8192;

/**
 * Whether the overflow is the request line's: the packet being parsed starts the request and
 * its first line, CRLF not counted, is longer than MAX_REQUEST_LINE (or has not ended).
 */
function requestLineTooLong(err: NodeJS.ErrnoException): boolean {
  const packet = (err as { rawPacket?: unknown }).rawPacket;
  if (!Buffer.isBuffer(packet) || packet.length <= MAX_REQUEST_LINE) return false;
  const sp = packet.indexOf(0x20);
  if (sp <= 0 || sp > 32 || packet[sp + 1] !== 0x2f /* / */) return false;
  const eol = packet.indexOf(0x0a);
  if (eol < 0) return true;
  return (packet[eol - 1] === 0x0d ? eol - 1 : eol) > MAX_REQUEST_LINE;
}

/**
 * Whether the first line of the packet being parsed ends in a well-formed ` HTTP/d.d` CRLF
 * (RFC 9112 section 2.3) that is neither 1.0 nor 1.1. Anything else (a bare LF, `HTTP/1.10`,
 * a line split across packets) stays a 400.
 */
function versionNotSupported(err: NodeJS.ErrnoException): boolean {
  const packet = (err as { rawPacket?: unknown }).rawPacket;
  if (!Buffer.isBuffer(packet)) return false;
  const eol = packet.indexOf(0x0a);
  if (eol < 11 || packet[eol - 1] !== 0x0d) return false;
  const v = eol - 9; // "HTTP/d.d" is 8 bytes before the CR
  if (packet[v - 1] !== 0x20 || packet.toString("latin1", v, v + 5) !== "HTTP/" || packet[v + 6] !== 0x2e)
    return false;
  const major = packet[v + 5] - 0x30;
  const minor = packet[v + 7] - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return false;
  return !(major === 1 && minor <= 1);
}

export function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode | null {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return requestLineTooLong(err) ? "uri_too_long" : "headers_too_large";
    // llhttp (strict) takes HTTP/0.9, 1.0, 1.1 and 2.0 only; request-checks.ts answers 0.9
    // and 2.0 with the same 505. RFC 9110 section 2.5 would serve HTTP/1.2 as 1.1 (nginx
    // does), but the parser has refused it before shardgate sees a request: 505 names the
    // cause where a 400 said nothing. nginx answers 505 to HTTP/2.x and 3.x request lines too.
    // The same code covers a bare LF after the version (malformed framing: 400), so the line
    // is looked at.
    case "HPE_INVALID_VERSION":
      return versionNotSupported(err) ? "http_version_not_supported" : "bad_request";
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "HPE_HEADERS_TIMEOUT":
      return "request_timeout";
    case "ECONNRESET":
    case "EPIPE":
      return null; // the peer is gone: nothing to answer
    default:
      return "bad_request";
  }
}

/**
 * The 'clientError' listener body; `onAnswered` lets the server count/log what it rejected.
 * `answerHalfClose`: the server answers half-closed clients (httpAllowHalfOpen); off, a FIN
 * with any request in flight is the client leaving, as Node's default server takes it.
 */
export function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Duplex,
  onAnswered?: (code: ErrorCode | "client_gone", err: NodeJS.ErrnoException) => void,
  answerHalfClose = false,
): void {
  if (isLingering(socket)) {
    lingeringClientError(err, socket);
    return;
  }
  // If a response was already started on this socket, a second status line would corrupt it.
  const busy = (socket as Duplex & { _httpMessage?: InFlight | null })._httpMessage;
  // A FIN that cuts a head pipelined behind complete requests, on a server that answers a
  // half-close: those are owed their answers (half-close-answer.ts makes the last one close the
  // connection); the cut head can never be answered and is dropped. Destroying here cut the
  // complete ones too. Returning on any other server left the socket open with nobody to end it.
  if (answerHalfClose && err.code === "HPE_INVALID_EOF_STATE" && busy != null && busy.req?.complete === true)
    return;
  // A FIN inside a request's head or body, or after complete ones when half-closes are not
  // answered (HPE_INVALID_EOF_STATE): the client left, and is owed nothing (nginx writes nothing
  // either). With a request in flight the data plane logs it 499; with none (an upstream's early
  // answer already relayed, then the FIN cut the rest of the body) a raw 400 went out after it.
  const code = err.code === "HPE_INVALID_EOF_STATE" ? null : clientErrorCode(err);
  try {
    onAnswered?.(code ?? "client_gone", err);
  } catch {
    // an observer failing must not keep the socket open
  }
  if (code === null || !socket.writable || busy?.headersSent === true) {
    socket.destroy();
    return;
  }
  socket.end(rawErrorResponse(code, newRequestId()));
  // Keep draining what the client still sends: closing with unread input makes the kernel
  // send a RST, and the client may then drop our answer before reading it (linger-close.ts).
  socket.on("data", noop);
  lingerAfterAnswer(socket);
}

/**
 * A parser error on a connection already answered and lingering (linger-close.ts). The client's
 * FIN, a reset or a timeout inside the rest ends it: nothing is owed. Anything else is about
 * bytes still arriving, which the lingering close reads and drops within its bounds: Node's
 * parser stays on the socket and reports a refused head (414, 431) again for every chunk after
 * it, and destroying the socket then made the kernel send RST with those bytes unread, so a
 * client that reads after its last write lost its answer.
 */
export function lingeringClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const code = err.code === "HPE_INVALID_EOF_STATE" ? null : clientErrorCode(err);
  if (code === null || code === "request_timeout") socket.destroy();
}

/** The response attached to a socket, with the request it answers. */
type InFlight = { headersSent?: boolean; req?: { complete?: boolean } };

function noop(): void {}
