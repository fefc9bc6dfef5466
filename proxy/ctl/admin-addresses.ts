// Where ctl sends an admin call. The admin port answers only a Host that names it
// (proxy/admin/host-check.ts: DNS rebinding), and a dotted DNS name an operator gives with
// `--admin http://node1.internal:9901` is not one unless the instance lists it, so ctl got
// 421 host_not_allowed. ctl is no browser: like the fleet view (proxy/app/fleet-view.ts) it
// resolves a plain-HTTP admin URL's name itself and connects to each address in turn; the
// request's Host is then that address, which the admin port always answers. An https:// URL
// keeps its name: the certificate is checked against it.
// Names resolve through the bounded lookup (proxy/net/bounded-lookup.ts: /etc/hosts, then DNS,
// with a bound), and the caller's signal bounds the wait as it bounds the call.

import { isIP } from "node:net";
import { upstreamLookup } from "../net/bounded-lookup.js";

/** Connection failures after which the name's next address is tried (nothing was sent). */
export const NEXT_ADDRESS = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** A lookup failure, with the name and the resolver's code (ENOTFOUND, EDNS_TIMEOUT, ...). */
export class AdminLookupError extends Error {
  constructor(
    readonly hostname: string,
    readonly code: string,
  ) {
    super(`cannot resolve ${hostname}: ${code}`);
  }
}

/**
 * The base URLs to try for `base` ("http://node1.internal:9901"), in order: the URL itself when
 * it is https:// or its host is an address, else one per address its name resolves to.
 */
export function adminTargets(base: string, signal: AbortSignal): Promise<string[]> {
  const u = new URL(base);
  if (u.protocol !== "http:" || isIP(u.hostname.replace(/^\[|\]$/g, "")) !== 0)
    return Promise.resolve([base]);
  const name = u.hostname;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    upstreamLookup.lookup(name, { all: true }, (err, addresses) => {
      signal.removeEventListener("abort", abort);
      if (err !== null) return reject(new AdminLookupError(name, err.code ?? err.message));
      const list = typeof addresses === "string" ? [{ address: addresses }] : addresses;
      if (list.length === 0) return reject(new AdminLookupError(name, "ENODATA"));
      resolve(
        list.map(({ address: a }) => {
          u.hostname = a.includes(":") ? `[${a}]` : a;
          // toString() gives a bare origin the path "/"; the base has none (ctl.ts strips it).
          return u.toString().replace(/\/$/, "");
        }),
      );
    });
  });
}
