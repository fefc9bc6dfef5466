// Where a cached response lives: "c:{<route>|<scheme>://<host>|<method>|<url>}" (the base key)
// and, for a response with Vary, "c:{<route>|<scheme>://<host>|<method>|<url>}:v:<sha256 of the
// varying values>". The origin (scheme and Host) is part of the key, as RFC 9111 section 2 keys
// on the target URI: a route matching many hosts must not answer one host's request with
// another's response, and a member told `X-Forwarded-Proto: https` may answer differently (an
// HSTS header, absolute https links) than the same member told http. Case, a trailing dot and
// the default port of the scheme the member is told are spellings of one origin; any other port
// is an origin of its own (cacheHostText). A trusted proxy's forwarding fields that tell the
// member another host, port, prefix or scheme add ":o:<hash>" after the hash tag (told-origin.ts):
// outside the tag, so a told origin's key is stored by hash only when the plain one is, and a
// purge that finds one finds the other. The URL's "{" and "}" are escaped (urlKeyText).
// Keys longer than storeKey's limit are stored by hash (not purgeable by prefix, but by
// expiry). All keys of one URL share the hash tag, so they sit in one Redis Cluster slot. HEAD is
// answered from the GET entry (RFC 9111 4.3.5), so the method in the key is always GET today.
// Builds before the scheme was keyed wrote "<route>|<host>|..." with no "://": a Host is checked
// to hold no "/" (request-checks.ts isHostAndPort), so no key of theirs is read by this build
// (their entries are misses, then expire), and a purge's host wildcard finds both.

import { createHash } from "node:crypto";
import { storeKey } from "../redis/store-key.js";
import { HTTP_PORT, HTTPS_PORT, originHostText } from "../routing/host-key.js";

/**
 * The Host as a key reads it: without the default port of `scheme` (told-scheme.ts), since that
 * is the origin a member builds its links and redirects from. Not as a `header:host` key reads it
 * (80 and 443 dropped whatever the scheme): `a:8080` and `a:8081` were one entry, and after the
 * port was kept a plain client's `Host: a:443` still planted, under `a`, an answer linking to
 * `http://a:443`, which every client of `http://a` was then served.
 */
export function cacheHostText(host: string, scheme: string): string {
  return originHostText(host, scheme === "https" ? HTTPS_PORT : HTTP_PORT);
}

/**
 * The URL as it is written into a key: "}" would end the hash tag, and storeKey's own "%7D" for
 * it made `/a}` and `/a%7D` one entry, though a member is sent each target as it came (the path
 * normaliser leaves "%7D" encoded, and the query is never touched). So "{" and "}" are written
 * "{7B" and "{7D": every "{" in the text starts an escape, so every URL has its own text. "%"
 * stays as it is: escaping it (as "%25") lengthened every percent-encoded URL by two characters
 * an escape, pushing a non-ASCII slug past storeKey's 256 (stored by hash, out of a purge's
 * reach), doubled every such purge's SCAN, and gave every such URL a new key at the upgrade.
 * A URL without braces keeps the text builds before this one wrote.
 */
export function urlKeyText(url: string): string {
  if (url.indexOf("}") < 0 && url.indexOf("{") < 0) return url;
  return url.replace(/[{}]/g, (c) => (c === "{" ? "{7B" : "{7D"));
}

/** "<route>|<scheme>://": how every key text of `route` for `scheme` starts (built once for http, https). */
export function originPrefix(route: string, scheme: string): string {
  return `${route}|${scheme}://`;
}

/**
 * The text every key of one stored URL starts with: `prefix` (originPrefix), the Host as
 * cacheHostText reads it ("" when none was sent), the method and the URL.
 */
export function baseTag(prefix: string, host: string, url: string): string {
  return `${prefix}${host}|GET|${urlKeyText(url)}`;
}

/**
 * The key of the entry (or Vary marker) for `tag` as told `told` (toldOriginHash, "" for nothing
 * more). Also the coalescing id: no tag holds "}", so no two (tag, told) pairs share a key text.
 */
export function baseKey(tag: string, told: string): string {
  return told === "" ? storeKey("c", tag) : storeKey("c", tag, `o:${told}`);
}

/** The key of the Vary variant of the entry at `base` (baseKey) for the varying values. */
export function variantKey(base: string, values: string): string {
  return `${base}:v:${createHash("sha256").update(values).digest("base64url")}`;
}

/** Escapes Redis glob characters so a URL matches only itself in SCAN MATCH. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * SCAN patterns (without the client's keyPrefix) for a purge: every entry and variant of
 * `url` exactly, or of every URL starting with `prefix`, on `route` (a label) or all routes.
 * A URL holding "{" or "}" has a second pattern, its text as builds before urlKeyText wrote it
 * ("}" as "%7D"): during a rolling upgrade older instances still store entries under it. That
 * text is also this build's for the URL with "%7D" in place of "}", whose entries go too (the
 * earlier text cannot tell the two apart); a URL without braces has the one pattern.
 */
export function purgePatterns(kind: "url" | "prefix", value: string, route?: string): string[] {
  const r = route === undefined ? "*" : globEscape(route);
  const pattern = (text: string) => {
    const v = globEscape(text);
    return kind === "url" ? `c:{${r}|*|GET|${v}}*` : `c:{${r}|*|GET|${v}*`;
  };
  const current = pattern(urlKeyText(value));
  const earlier = pattern(value.replaceAll("}", "%7D"));
  return earlier === current ? [current] : [current, earlier];
}
