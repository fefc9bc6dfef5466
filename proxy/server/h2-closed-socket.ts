// The socket of an HTTP/2 session that ends after a graceful close: the client's GOAWAY
// (NO_ERROR), or shardgate's own close of idle sessions (shutdown, overload). Node then ends the
// socket (FIN after the GOAWAY) but, unlike after a destroy, never destroys it: it reads on
// until the client's FIN, and the session's idle timeout is already cleared. A client that
// sends GOAWAY and keeps its side of the connection open held the socket, its descriptor and a
// slot of listen.maxConnections for good (still open after 150 s, measured with a raw client),
// for about 60 bytes. Now such a socket is destroyed LINGER_MS after its FIN is written, as a
// lingering close ends (it still reads, so what the client sends meanwhile causes no RST), or
// LINGERING_TIME_MS after the session ended when the FIN is never written (a client taking
// none of the last bytes). A client that closes its side first ends it at once, as before.

import type { Socket } from "node:net";
import { LINGER_MS, LINGERING_TIME_MS } from "./linger-close.js";

const kBounded = Symbol("shardgate.h2ClosedSocketBounded");
type Bounded = Socket & { [kBounded]?: true };

/** Called as the gracefully closed session owning `socket` is destroyed (before Node ends the socket). */
export function boundClosedSocket(socket: Socket): void {
  const s = socket as Bounded;
  if (s.destroyed || s[kBounded]) return;
  s[kBounded] = true;
  // socket.destroy as it is then: the connection cap's, which frees the slot at once.
  const destroy = (): void => {
    s.destroy();
  };
  const whole = setTimeout(destroy, LINGERING_TIME_MS);
  whole.unref();
  let afterFin: NodeJS.Timeout | undefined;
  s.once("finish", () => {
    afterFin = setTimeout(destroy, LINGER_MS);
    afterFin.unref();
  });
  s.once("close", () => {
    clearTimeout(whole);
    clearTimeout(afterFin);
  });
}
