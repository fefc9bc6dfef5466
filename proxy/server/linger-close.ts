// Closing a connection whose peer is still sending (a refused connection, a body flood past a
// cap). Destroying it with unread input makes the kernel answer RST, and an RST can discard
// the answer just written before the client has read it: the client sees a reset, not the
// 503 or the 200 it was sent. So, as nginx's lingering close: end the connection after what
// was written (FIN), read and drop whatever still arrives, and destroy it after a bounded
// time whatever the peer does (a flood that never pauses cannot hold it longer).

import type { Duplex } from "node:stream";

/** How long a closing connection keeps reading (and dropping) its peer's input. */
export const LINGER_MS = 1_000;

/** Ends `socket` after `last` (if given) and what was already written; destroys it within `ms`. */
export function lingerClose(socket: Duplex, last?: Buffer | string, ms = LINGER_MS): void {
  socket.on("error", noop);
  if (last === undefined) socket.end();
  else socket.end(last);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

function noop(): void {}
