// A TLS client that completes its handshake and then sends nothing: the memory a quiet TLS
// connection holds on the server (OpenSSL's buffers) is what the overload tests flood with.

import { connect, type TLSSocket } from "node:tls";

/** Connects to 127.0.0.1:`port` trusting `ca`; resolves once up (or null if it failed). Kept in `open` until it closes. */
export function quietTls(port: number, ca: Buffer, open: Set<TLSSocket>): Promise<TLSSocket | null> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port, ca, servername: "localhost" });
    open.add(s);
    s.on("error", () => resolve(null));
    s.on("close", () => {
      open.delete(s);
      resolve(null);
    });
    s.on("secureConnect", () => resolve(s));
  });
}
