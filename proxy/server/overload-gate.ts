// The listener's side of overload protection (overload.ts): what a request or a connection
// gets while the process is over a memory threshold. A shed request is answered at once, its
// body never read into memory (linger-close.ts drops what still arrives), and its HTTP/1.1
// connection closes after the answer: a keep-alive kept open is memory kept too.

import type { Server, ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { Socket } from "node:net";
import { ERRORS, errorBody, NOSNIFF, rawErrorResponse } from "../errors.js";
import { newRequestId } from "../forward/request-id.js";
import { lingerClose } from "./linger-close.js";
import { OVERLOAD_REFUSE, type OverloadGuard } from "./overload.js";

/** Seconds a shed client is told to wait (Retry-After): about a few sampling periods. */
const RETRY_AFTER = "1";

/** 503 overloaded on an HTTP/1.1 request; the connection closes after it. */
export function answerOverloaded(res: ServerResponse): void {
  const id = newRequestId();
  const body = errorBody("overloaded", id);
  res.shouldKeepAlive = false;
  res.writeHead(ERRORS.overloaded.status, {
    "content-type": "application/json",
    "x-content-type-options": NOSNIFF,
    "content-length": Buffer.byteLength(body),
    "x-request-id": id,
    "retry-after": RETRY_AFTER,
    connection: "close",
  });
  res.end(body);
}

/** 503 overloaded on an HTTP/2 stream (the session goes on: its other streams are in flight). */
export function answerOverloadedH2(res: Http2ServerResponse): void {
  const id = newRequestId();
  const body = errorBody("overloaded", id);
  res.writeHead(ERRORS.overloaded.status, {
    "content-type": "application/json",
    "x-content-type-options": NOSNIFF,
    "content-length": Buffer.byteLength(body),
    "x-request-id": id,
    "retry-after": RETRY_AFTER,
  });
  res.end(body);
}

type ConnectionListener = (this: Server, socket: Socket) => void;

/**
 * At the "refuse" level, new connections are refused before any listener sees them (HTTP
 * parser, TLS, h2c sniff, PROXY header, the connection cap): a plain port answers a raw 503
 * overloaded, a TLS port closes. Install after every other 'connection' listener.
 */
export function refuseConnectionsWhenOverloaded(
  server: Server,
  guard: OverloadGuard,
  tls: boolean,
  onRefused: () => void,
): void {
  const inner = server.listeners("connection") as ConnectionListener[];
  server.removeAllListeners("connection");
  server.on("connection", function overloadGate(this: Server, socket: Socket) {
    if (guard.level >= OVERLOAD_REFUSE) {
      onRefused();
      socket.on("error", noop);
      if (tls) socket.destroy();
      else lingerClose(socket, rawErrorResponse("overloaded", ""));
      return;
    }
    for (const listener of inner) listener.call(this, socket);
  });
}

function noop(): void {}
