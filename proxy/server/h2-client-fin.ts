// What a client's FIN means on an HTTP/2 connection. The public listener is half-open (an
// HTTP/1.1 half-close may still be answered, listen.clientHalfClose), on the plain port and over
// TLS alike, and so are the sockets it hands to the HTTP/2 session factory: Node's http2 session
// ignores the end of a half-open socket, so a client that left (Node's session.destroy(): a
// GOAWAY and a FIN, no RST_STREAM) kept its calls, their member streams and their access lines
// open until listen.timeouts.idle. A plain Node http2 server (not half-open) closes at once.
//
// The rule (Envoy closes the connection at the client's FIN; this keeps the answer below):
// - the client's GOAWAY followed by its FIN: the client took its leave and reads nothing more,
//   so the session is destroyed now; every open stream is cut (the data plane resets its
//   upstream request and logs it: 499, or the status sent with downstream_disconnected);
// - a FIN alone: HTTP/2's half-close is END_STREAM, so a FIN right after the request frames is
//   still answered (test/outside/half-close.test.ts); the session gets a GOAWAY (no new
//   streams) and closes once its streams finish, but at the latest after `graceMs`
//   (listen.timeouts.keepAlive: the time a connection its client no longer uses stays open),
//   since a client that can send no WINDOW_UPDATE, PING or RST_STREAM any more cannot be told
//   from one that left, and past one stream window its answer could never complete anyway.
//   With keepAlive 0 (no keep-alive bound) the session's idle timeout is the only bound.
// A write the client refuses (EPIPE, ECONNRESET) already destroys the session (Node).

import type { ServerHttp2Session } from "node:http2";

/**
 * Applies the rule above to `session` (call on the server's 'session' event); `graceMs`: how
 * long streams may still finish after a client's bare FIN (0: no bound of its own).
 */
export function closeOnClientFin(session: ServerHttp2Session, graceMs: number): void {
  let goaway = false;
  let grace: NodeJS.Timeout | undefined;
  // Frames are read in order: a GOAWAY before the FIN is seen before the socket's end.
  session.once("goaway", () => {
    goaway = true;
  });
  session.once("close", () => clearTimeout(grace));
  // session.socket is Node's proxy of the socket; listening through it is allowed.
  session.socket.once("end", () => {
    if (session.destroyed) return;
    if (goaway) {
      session.destroy();
      return;
    }
    if (!session.closed) session.close();
    if (session.destroyed || graceMs <= 0) return;
    grace = setTimeout(() => {
      if (!session.destroyed) session.destroy();
    }, graceMs);
    grace.unref();
  });
}
