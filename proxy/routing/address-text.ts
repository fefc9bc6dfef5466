// One client address, one text: the `ip` key is hashed as text, so every spelling of one
// address must become the same string before it is hashed or checked against trustedProxies.
// Proxies write X-Forwarded-For / Forwarded entries with ports ("192.0.2.1:4711"), brackets
// ("[2001:db8::1]:443"), upper case or uncompressed IPv6 ("2001:DB8:0:0::1") and v4-mapped
// IPv6 ("::ffff:192.0.2.1", what a dual-stack listener on "::" reports): all are one client.

import { isIPv4, isIPv6, SocketAddress } from "node:net";

/** "::ffff:10.0.0.1" -> "10.0.0.1", so IPv4 CIDRs match dual-stack peers. */
export function unmapIPv4(address: string): string {
  return address.length > 7 && address.startsWith("::ffff:") && isIPv4(address.slice(7))
    ? address.slice(7)
    : address;
}

/**
 * The canonical text of an address as a proxy wrote it: ports and IPv6 brackets removed, IPv6
 * in RFC 5952 form (lower case, zeros compressed), v4-mapped IPv6 as its IPv4 address. A dotted
 * IPv4 address (the common entry) is returned as it is, unallocated. Text that is no address
 * ("unknown", an obfuscated "_node", garbage) is returned as it is.
 */
export function canonicalAddress(text: string): string {
  if (isIPv4(text)) return text;
  let a = text;
  if (a.charCodeAt(0) === 0x5b /* [ */) {
    const close = a.indexOf("]");
    if (close < 0) return text;
    a = a.slice(1, close);
  } else {
    const colon = a.indexOf(":");
    // Exactly one colon: an IPv4 address (or a name) with a port.
    if (colon > 0 && a.indexOf(":", colon + 1) < 0) {
      const host = a.slice(0, colon);
      return isIPv4(host) && isPort(a, colon + 1) ? host : text;
    }
  }
  if (!isIPv6(a)) return a === text ? text : isIPv4(a) ? a : text;
  let canonical: string;
  try {
    // inet_ntop's text: RFC 5952 compression and case, mapped addresses in dotted form.
    canonical = new SocketAddress({ address: a, family: "ipv6" }).address;
  } catch {
    return a; // a zone id ("fe80::1%eth0") or anything else the socket layer refuses
  }
  const lower = canonical.toLowerCase();
  return lower.startsWith("::ffff:") ? unmapIPv4(lower) : lower;
}

/** Whether `s` from `from` on is 1-5 decimal digits. */
function isPort(s: string, from: number): boolean {
  const n = s.length - from;
  if (n < 1 || n > 5) return false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
