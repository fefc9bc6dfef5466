// Where a cached response lives: "c:{<route>|<host>|<method>|<url>}" (the base key) and, for a
// response with Vary, "c:{<route>|<host>|<method>|<url>}:v:<sha256 of the varying values>".
// The Host is part of the key: a route matching many hosts must not answer one host's request
// with another's response. It is read as a `header:host` key is (host-key.ts): case, a trailing
// dot and ports 80 and 443 are spellings of one site, any other port is a site of its own
// (`a:8080` and `a:8081` were one entry: the port was dropped, so a client of one port planted
// what the other port's clients were served). The URL's "%" and "}" are escaped (urlKeyText).
// Keys longer than storeKey's limit are stored by hash (not purgeable by prefix, but by
// expiry). All keys of one URL share the hash tag, so they sit in one Redis Cluster slot. HEAD is
// answered from the GET entry (RFC 9111 4.3.5), so the method in the key is always GET today.

import { createHash } from "node:crypto";
import { storeKey } from "../redis/redis-store.js";

/**
 * The URL as it is written into a key: "}" would end the hash tag, and storeKey's own "%7D" for
 * it made `/a}` and `/a%7D` one entry, though a member is sent each target as it came (the path
 * normaliser leaves "%7D" encoded, and the query is never touched). "%" is escaped too, so that
 * every URL has its own text.
 */
export function urlKeyText(url: string): string {
  if (url.indexOf("}") < 0 && url.indexOf("%") < 0) return url;
  return url.replace(/[%}]/g, (c) => (c === "%" ? "%25" : "%7D"));
}

export function baseTag(route: string, host: string, url: string): string {
  return `${route}|${host}|GET|${urlKeyText(url)}`;
}

export function baseKey(tag: string): string {
  return storeKey("c", tag);
}

export function variantKey(tag: string, values: string): string {
  return storeKey("c", tag, `v:${createHash("sha256").update(values).digest("base64url")}`);
}

/** Escapes Redis glob characters so a URL matches only itself in SCAN MATCH. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * SCAN patterns (without the client's keyPrefix) for a purge: every entry and variant of
 * `url` exactly, or of every URL starting with `prefix`, on `route` (a label) or all routes.
 * A URL holding "%" or "}" has a second pattern, its text as builds before urlKeyText wrote it
 * (only "}" escaped): during a rolling upgrade older instances still store entries under it.
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
