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
  return canonicalPart(addressPart(text));
}

/**
 * The address an entry names, as written: ports and IPv6 brackets removed, nothing else done
 * (no socket-layer call). A trust check may read this instead of canonicalAddress(): the
 * trustedProxies matcher parses an address into its 128 bits, so every spelling of one
 * address answers alike there, and only the entry kept as the key needs canonicalPart().
 */
export function addressPart(text: string): string {
  if (isIPv4(text)) return text;
  if (text.charCodeAt(0) === 0x5b /* [ */) {
    const close = text.indexOf("]");
    if (close < 0) return text;
    const a = text.slice(1, close);
    return isIPv6(a) || isIPv4(a) ? a : text;
  }
  const colon = text.indexOf(":");
  // Exactly one colon: an IPv4 address (or a name) with a port.
  if (colon > 0 && text.indexOf(":", colon + 1) < 0) {
    const host = text.slice(0, colon);
    return isIPv4(host) && isPort(text, colon + 1) ? host : text;
  }
  return text;
}

/** addressPart()'s answer in canonical form: IPv6 as inet_ntop writes it, v4-mapped as IPv4. */
export function canonicalPart(a: string): string {
  if (!isIPv6(a)) return a;
  let canonical: string;
  try {
    // inet_ntop's text: RFC 5952 compression and case, mapped addresses in dotted form.
    canonical = new SocketAddress({ address: a, family: "ipv6" }).address;
  } catch {
    return a; // anything the socket layer refuses
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
