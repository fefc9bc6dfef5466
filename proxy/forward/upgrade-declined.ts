// An upgrade offer shardgate does not take (anything but WebSocket: `Upgrade: h2c` is what
// `curl --http2` sends to an http:// URL) is ignored and the request served over HTTP/1.1, as
// nginx does. Node's server has already handed the socket over as an upgrade (it decides per
// server, not per request), so the response is attached to the socket here and the
// connection closes after it: the parser that would read a next request is gone.

import { type IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

/** Whether the request asks for a WebSocket (the only upgrade proxied). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return req.method === "GET" && typeof upgrade === "string" && upgrade.toLowerCase() === "websocket";
}

/** A declined upgrade can be served only without a body: its bytes were not framed by the parser. */
export function canServeDeclinedUpgrade(req: IncomingMessage): boolean {
  const cl = req.headers["content-length"];
  return req.headers["transfer-encoding"] === undefined && (cl === undefined || cl === "0");
}

/** A ServerResponse writing to `socket`, which closes once the response is sent. */
export function responseOnSocket(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  // Node took its own listeners off the socket when it handed it over as an upgrade: without
  // one, a client reset would be an uncaught 'error'.
  socket.on("error", noop);
  res.assignSocket(socket as Socket);
  res.on("finish", endSocket);
  return res;
}

function noop(): void {}

function endSocket(this: ServerResponse): void {
  const s = this.socket as (Socket & { destroySoon?: () => void }) | null;
  if (s !== null && !s.destroyed) s.destroySoon?.();
}
