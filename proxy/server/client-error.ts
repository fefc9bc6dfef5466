// Answers what Node's HTTP parser rejects before a request exists (the 'clientError'
// event): oversized headers -> 431 (a request line over 8 KB -> 414), header/request timeouts
// -> 408, anything malformed -> 400, each as shardgate's JSON error on a closing connection. A FIN that cuts a request's body is the client leaving:
// the data plane already logs that request 499, and nothing is written. Never throws: a broken
// socket is simply destroyed.

import type { Duplex } from "node:stream";
import { type ErrorCode, rawErrorResponse } from "../errors.js";
import { newRequestId } from "../forward/request-id.js";

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

export function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode | null {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return requestLineTooLong(err) ? "uri_too_long" : "headers_too_large";
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

/** The 'clientError' listener body; `onAnswered` lets the server count/log what it rejected. */
export function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Duplex,
  onAnswered?: (code: ErrorCode | "client_gone", err: NodeJS.ErrnoException) => void,
): void {
  // If a response was already started on this socket, a second status line would corrupt it.
  const busy = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  // A FIN inside a request's body (HPE_INVALID_EOF_STATE with that request in flight): the
  // client left; the data plane logs it 499 and owes it nothing (a 400 was written here).
  const code = err.code === "HPE_INVALID_EOF_STATE" && busy != null ? null : clientErrorCode(err);
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
  // send a RST, and the client may then drop our answer before reading it.
  socket.on("data", noop);
  socket.resume();
  // end() flushes then closes; do not wait on a client that stops reading.
  setTimeout(destroyLater, 1000, socket).unref();
}

function destroyLater(socket: Duplex): void {
  if (!socket.destroyed) socket.destroy();
}

function noop(): void {}
