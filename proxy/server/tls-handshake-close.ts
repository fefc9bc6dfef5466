// A TLS connection whose handshake did not finish is closed at once, whatever ended it. The
// listener is half-open so that a client's FIN after its request is read by the listener's
// rules for it (listen.clientHalfClose, h2-client-fin.ts), but Node gave a TLS socket that
// setting from its accept onwards: a client that sent its FIN before or inside the handshake,
// which can never finish it, kept its connection slot and its memory estimate (tls-memory.ts)
// until the handshake timeout. And at that timeout Node's HTTPS server passed the error on as a
// parser error: answered with a raw 400 the client could not read, counted as bad_request, and
// lingered ~5 s more. Now a socket is half-open only once its handshake is done, and an error
// before that (timeout, reset, a FIN, a bad record) closes it without an answer.

import type { Server } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";

/** Sockets whose handshake failed: the listener's parser-error handler leaves them alone. */
const failed = new WeakSet<Duplex>();

/**
 * For a server created with `allowHalfOpen: false`: each socket turns half-open at its secure
 * connection, before any other listener sees it; each handshake error destroys its socket and is
 * reported to `onFailed`. Call after every 'secureConnection' listener is attached.
 */
export function closeFailedHandshakes(server: Server, onFailed: (err: NodeJS.ErrnoException) => void): void {
  server.prependListener("secureConnection", (socket: TLSSocket) => {
    socket.allowHalfOpen = true;
  });
  // Before the HTTPS server's own listener, which re-emits the error as 'clientError'.
  server.prependListener("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    failed.add(socket);
    socket.destroy();
    onFailed(err);
  });
}

/** The socket's handshake failed and it is closed: no HTTP answer is owed on it. */
export function handshakeFailed(socket: Duplex): boolean {
  return failed.has(socket);
}
