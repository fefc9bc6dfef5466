// Closing an admin connection whose request body went past admin.maxBodySize (the 413). Node
// destroyed it as soon as the answer was flushed, with the client's upload still arriving: the
// kernel answered RST, and a client still sending (one that reads after its upload) lost the
// 413. The data plane's lingering close (linger-close.ts) keeps the answer, but checks what it
// has read every 500 ms: a client on loopback sent over 1 GB in that time. Here the answer is
// followed by the same lingering close, and what still arrives is counted as it is read: past
// DRAIN_ALLOWANCE_BYTES the connection is destroyed at once.

import type { IncomingMessage } from "node:http";
import { lingerAfterAnswer } from "../server/linger-close.js";

/** The most an admin connection reads and drops after its request body went past the cap. */
export const DRAIN_ALLOWANCE_BYTES = 32 * 1024 * 1024;

const kOverflow = Symbol("shardgate.adminOverflow");

type Closing = IncomingMessage["socket"] & { destroySoon?: () => void; [kOverflow]?: true };

/**
 * Called when `req`'s body is refused as too large, before its 413 is sent (with
 * `Connection: close`). The rest of the body is read and dropped, at most DRAIN_ALLOWANCE_BYTES
 * of it; once the answer is out, the connection lingers (FIN, then bounded in time) instead of
 * being destroyed with input unread.
 */
export function closeAfterOverflow(req: IncomingMessage): void {
  const socket = req.socket as Closing;
  if (socket[kOverflow] === true || socket.destroyed) return;
  socket[kOverflow] = true;
  let dropped = 0;
  req.on("data", (c: Buffer) => {
    dropped += c.length;
    if (dropped > DRAIN_ALLOWANCE_BYTES) socket.destroy();
  });
  req.resume();
  // Node's server calls destroySoon after a closing answer. Without the request, the linger
  // leaves it flowing into the listener above (with it, the request would be dumped).
  socket.destroySoon = function (this: Closing) {
    lingerAfterAnswer(this);
  };
}
