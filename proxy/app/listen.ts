// Binding a listener with a message a person can act on when it fails (port in use, no
// permission, address not on this machine) instead of an EADDRINUSE stack trace.

import type { Server } from "node:net";
import { formatAddress } from "../../config/address.js";
import type { Address } from "../../config/file/schema.js";

export type ListenResult = { ok: true } | { ok: false; code: string; message: string };

/** Listens on `address`; `field` names the config key (or flag) the address came from. */
export function listenOn(server: Server, address: Address, field: string): Promise<ListenResult> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = formatAddress(address);
      const code = err.code ?? "error";
      const why =
        code === "EADDRINUSE"
          ? `${where} is already in use (another shardgate or another program is listening there); stop it or choose another port`
          : code === "EACCES"
            ? `no permission to listen on ${where} (ports below 1024 need privileges); choose a port >= 1024`
            : code === "EADDRNOTAVAIL"
              ? `${address.host} is not an address of this machine`
              : `cannot listen on ${where}: ${err.message}`;
      resolve({ ok: false, code, message: `${field}: ${why}` });
    };
    server.once("error", onError);
    server.listen(address.port, address.host, () => {
      server.off("error", onError);
      resolve({ ok: true });
    });
  });
}
