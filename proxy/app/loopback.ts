// Whether a configured listener host is a loopback address (the admin API warns otherwise:
// it speaks plain HTTP, so its bearer token would cross the network in clear).

import { isIP } from "node:net";

export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  const h = host.startsWith("::ffff:") ? host.slice(7) : host;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1";
}
