// The answer a half-closed HTTP/1.1 client is owed when the listener answers half-closes
// (listen.clientHalfClose: answer). With httpAllowHalfOpen (proxy-server.ts),
// Node answers the requests before a client's FIN and closes the connection after the last
// one, but that last answer's head still said `connection: keep-alive` (Node marks the response
// `_last` without touching shouldKeepAlive, which the head is written from): the client was
// told to reuse a connection that was about to close. The last response on the connection
// whose head is not yet written now says `connection: close`. Earlier pipelined answers keep
// keep-alive: a `close` on one of them would make Node end the connection before the rest.
// A head already sent when the FIN comes cannot be changed (HAProxy sends no close then either).

import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

const kLatest = Symbol("shardgate.latestResponse");
type WithLatest = Duplex & { [kLatest]?: ServerResponse | null };

/** Called for each HTTP/1.x request: `res` is the newest answer owed on `socket`. */
export function trackLatestResponse(socket: Duplex, res: ServerResponse): void {
  if (socket.readableEnded) {
    res.shouldKeepAlive = false;
    return;
  }
  const s = socket as WithLatest;
  if (s[kLatest] === undefined) socket.once("end", onClientFin);
  s[kLatest] = res;
}

function onClientFin(this: WithLatest): void {
  const res = this[kLatest];
  this[kLatest] = null;
  if (res == null) return;
  if (!res.headersSent) res.shouldKeepAlive = false;
  // Node marks the last answer itself unless the FIN cut a pipelined head (its parser then
  // reports an error instead, client-error.ts): the same mark, so the connection closes after it.
  (res as ServerResponse & { _last?: boolean })._last = true;
}
