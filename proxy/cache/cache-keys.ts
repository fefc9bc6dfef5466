// Where a cached response lives: "c:{<route>|<host>|<method>|<url>}" (the base key) and, for a
// response with Vary, "c:{<route>|<host>|<method>|<url>}:v:<sha256 of the varying values>".
// The Host is part of the key: a route matching many hosts must not answer one host's request
// with another's response. Keys longer than storeKey's limit are stored by hash (not purgeable
// by prefix, but by expiry). All keys
// of one URL share the hash tag, so they sit in one Redis Cluster slot. HEAD is answered from
// the GET entry (RFC 9111 4.3.5), so the method in the key is always GET today.

import { createHash } from "node:crypto";
import { storeKey } from "../redis/store-key.js";

export function baseTag(route: string, host: string, url: string): string {
  return `${route}|${host}|GET|${url}`;
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
 */
export function purgePattern(kind: "url" | "prefix", value: string, route?: string): string {
  const r = route === undefined ? "*" : globEscape(route);
  const v = globEscape(value.replaceAll("}", "%7D"));
  return kind === "url" ? `c:{${r}|*|GET|${v}}*` : `c:{${r}|*|GET|${v}*`;
}
