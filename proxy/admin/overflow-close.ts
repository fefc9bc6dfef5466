// Request bodies the admin port does not want, and bodies past admin.maxBodySize: read and
// dropped, within bounds. A body no endpoint reads (or one refused with 401/403/405) is
// dropped up to the cap so a keep-alive client is not stalled; past the cap, or once a JSON
// body is refused 413, the connection closes after its answer. Two things went wrong before:
// - A refused request's body was resumed without a bound (writeAllowed's req.resume(), and
//   Node's own dump of a body nobody read): an unauthenticated client streaming to the
//   breaker, cluster or cache endpoints was read for as long as it kept sending (2 GB in 20 s,
//   still open).
// - Node destroyed a 413's connection as soon as the answer was flushed, with the upload
//   still arriving: the kernel answered RST, and a client still sending lost the 413.
// Closing is the data plane's lingering close (linger-close.ts: FIN after the answer, the
// client's FIN, 5 s without a byte or 30 s end it), and what arrives after the cap is counted
// as the parser hands it over (input-cap.ts, as the linger counts its own bound): past
// DRAIN_ALLOWANCE_BYTES the connection is destroyed at once.

import type { IncomingMessage, ServerResponse } from "node:http";
import { destroyPastBytes } from "../server/input-cap.js";
import { lingerAfterAnswer } from "../server/linger-close.js";

/** The most an admin connection reads and drops once a body went past the cap. */
export const DRAIN_ALLOWANCE_BYTES = 32 * 1024 * 1024;

const kOverflow = Symbol("shardgate.adminOverflow");

type Closing = IncomingMessage["socket"] & { destroySoon?: () => void; [kOverflow]?: true };

/**
 * Called once `req`'s body is past the cap (or declared over it), before or after its answer
 * `res` (without it: before; the caller answers with `Connection: close`).
 * The rest is read and dropped, at most DRAIN_ALLOWANCE_BYTES of it; the connection closes
 * after the answer (lingering) instead of being destroyed with input unread, or kept for a
 * next request that the rest of this body would hold up.
 */
export function closeAfterOverflow(req: IncomingMessage, res?: ServerResponse): void {
  const socket = req.socket as Closing;
  if (socket[kOverflow] === true || socket.destroyed) return;
  socket[kOverflow] = true;
  destroyPastBytes(req, socket, DRAIN_ALLOWANCE_BYTES);
  req.resume();
  // The answer already went out on a kept-alive connection: nothing else will close it.
  if (res?.writableFinished === true) {
    lingerAfterAnswer(socket);
    return;
  }
  if (res !== undefined && !res.headersSent) res.shouldKeepAlive = false;
  // Node's server calls destroySoon after a closing answer. Without the request, the linger
  // leaves it flowing into the listener above (with it, the request would be dumped).
  socket.destroySoon = function (this: Closing) {
    lingerAfterAnswer(this);
  };
}

/** Reads and drops `req`'s body: up to `max` bytes the connection stays usable, past them it closes. */
export function discardUpTo(req: IncomingMessage, res: ServerResponse, max: number): void {
  let size = 0;
  const onData = (c: Buffer): void => {
    size += c.length;
    if (size <= max) return;
    req.off("data", onData);
    closeAfterOverflow(req, res);
  };
  req.on("data", onData);
  req.resume();
}
