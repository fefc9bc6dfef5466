// The text a `header:host` key (`:authority` on HTTP/2) is hashed as: one text per authority
// however a client library spells it (RFC 3986 6.2.2 and 6.2.3): the host lower-cased, a trailing
// dot dropped (`example.com.` is the fully qualified `example.com`), an empty port or a default
// one dropped, a port's leading zeros dropped. IPv6 literals keep their brackets: `[::1]:80` is
// `[::1]`. Text that is no host[:port] (two colons outside brackets, a port that is no number) is
// only lower-cased, as before level 6.
//
// Which ports are dropped:
// - From feature level 7 (hostKeyText): 80 and 443, whichever listener read the request. The key
//   must be a function of the Host text alone, because the instances of one fleet do not share a
//   listener layout: a load balancer that terminates TLS forwards `Host: shop.example:443` to a
//   plain listener, while an instance terminating TLS itself reads the same Host on a TLS one.
//   Both default ports go (as Envoy's strip_any_host_port, but only those two): a client that
//   writes either names the site it would reach without a port. Any other port stays part of the
//   key (`example.com:8080` is another key): a service on its own port is a service of its own,
//   and that spelling already reads alike on every listener.
// - At level 6 (hostKeyTextV6, kept for a fleet mid-upgrade): only the listener's own default
//   port (80 on plain HTTP, 443 on TLS, as Envoy's strip_matching_host_port), so the same Host
//   could be two keys on two instances of one fleet.

export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;

/** `value` (a Host or :authority value) as its host key text from level 7: ports 80 and 443 dropped. */
export function hostKeyText(value: string): string {
  return keyText(value, HTTP_PORT, HTTPS_PORT);
}

/** `value` as its level-6 host key text on a listener whose default port is `defaultPort`. */
export function hostKeyTextV6(value: string, defaultPort: number): string {
  return keyText(value, defaultPort, defaultPort);
}

/**
 * `value` as the text of one origin whose scheme's default port is `defaultPort`: only that port
 * dropped. The shared cache keys on it (cache-keys.ts), where the scheme is known.
 */
export function originHostText(value: string, defaultPort: number): string {
  return keyText(value, defaultPort, defaultPort);
}

/** `value`'s key text with port `dropA` or `dropB` dropped (the same number twice drops one). */
function keyText(value: string, dropA: number, dropB: number): string {
  const v = hasUpper(value) ? value.toLowerCase() : value;
  let hostEnd: number;
  if (v.charCodeAt(0) === 0x5b /* [ */) {
    const close = v.indexOf("]");
    if (close < 0) return v;
    hostEnd = close + 1;
    if (hostEnd < v.length && v.charCodeAt(hostEnd) !== 0x3a /* : */) return v;
  } else {
    const colon = v.indexOf(":");
    if (colon >= 0 && v.indexOf(":", colon + 1) >= 0) return v;
    hostEnd = colon < 0 ? v.length : colon;
  }
  // The text given is the key unless a port or a trailing dot goes or a port is spelled anew:
  // then one string is cut or built, never the port's digits on their own.
  let port = -1;
  let portAsGiven = true;
  const from = hostEnd + 1;
  if (from < v.length) {
    const n = portNumber(v, from);
    if (n < 0) return v;
    if (n !== dropA && n !== dropB) {
      port = n;
      portAsGiven = v.charCodeAt(from) !== 0x30 /* 0 */ || from === v.length - 1;
    }
  }
  const hostLen = hostEnd > 1 && v.charCodeAt(hostEnd - 1) === 0x2e /* . */ ? hostEnd - 1 : hostEnd;
  if (port < 0) return hostLen === v.length ? v : v.slice(0, hostLen);
  return hostLen === hostEnd && portAsGiven ? v : `${v.slice(0, hostLen)}:${port}`;
}

/** The number `v` spells from `from` to its end (ASCII digits only, at most 65535), or -1. */
function portNumber(v: string, from: number): number {
  let n = 0;
  for (let i = from; i < v.length; i++) {
    const c = v.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
    if (n > 65535) return -1;
  }
  return n;
}

function hasUpper(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}
