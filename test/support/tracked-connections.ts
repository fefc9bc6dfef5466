// A test server's live connections (HTTP/2 sessions, raw sockets), kept so that closing the
// server ends them too: server.close() alone waits until every one has gone away.

import type { Http2SecureServer, Http2Server, Http2Session } from "node:http2";

interface Closable {
  close(cb: () => void): unknown;
}

/** Destroys everything in `open`, then closes `server`; resolves once it is closed. */
export async function closeWithConnections(
  server: Closable,
  open: Iterable<{ destroy(): void }>,
): Promise<void> {
  for (const c of open) c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

/**
 * Keeps `server`'s live HTTP/2 sessions (a session's error is the test's to see in its streams,
 * not the process's) and calls `onSession` for each new one. Returns the server's close().
 */
export function trackH2Sessions(
  server: Http2Server | Http2SecureServer,
  onSession: (s: Http2Session) => void = () => undefined,
): () => Promise<void> {
  const open = new Set<Http2Session>();
  server.on("session", (s: Http2Session) => {
    onSession(s);
    open.add(s);
    s.on("close", () => open.delete(s));
    s.on("error", () => undefined);
  });
  return () => closeWithConnections(server, open);
}
