// Where ctl sends an admin call. The admin port answers only a Host that names it
// (proxy/admin/host-check.ts: DNS rebinding), and a dotted DNS name an operator gives with
// `--admin http://node1.internal:9901` is not one unless the instance lists it, so ctl got
// 421 host_not_allowed. ctl is no browser: like the fleet view it asks a plain-HTTP admin URL at
// each address its name resolves to (proxy/net/admin-by-address.ts); the request's Host is then
// that address, which the admin port always answers. An https:// URL keeps its name.
// Names resolve through the bounded lookup (proxy/net/bounded-lookup.ts: /etc/hosts, then DNS,
// with a bound), and the caller's signal bounds the wait as it bounds the call.

import { adminUrlsByAddress } from "../net/admin-by-address.js";
import { upstreamLookup } from "../net/bounded-lookup.js";

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
  return adminUrlsByAddress(
    base,
    upstreamLookup.lookup,
    signal,
    (name, err) => new AdminLookupError(name, err === null ? "ENODATA" : (err.code ?? err.message)),
  );
}
