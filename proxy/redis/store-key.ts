// The key every edge feature stores under: "<kind>:{<id>}", so with Redis Cluster all keys one
// script touches for one id share a hash tag (one slot). Apart from redis-store.ts so that the
// features can name their keys without loading ioredis in a process that has no `redis:` section.

import { createHash } from "node:crypto";

/** Ids longer than this (client-chosen keys can be up to the header limit) are stored by their hash. */
const MAX_ID_LENGTH = 256;

/** The key of `kind` for `id`, hash-tagged on `id`. */
export function storeKey(kind: string, id: string, suffix = ""): string {
  // A "}" inside the tag would end it early; still deterministic, but keep tags whole.
  let tag = id.includes("}") ? id.replaceAll("}", "%7D") : id;
  if (tag.length > MAX_ID_LENGTH) tag = `#${createHash("sha256").update(tag).digest("base64url")}`;
  return suffix === "" ? `${kind}:{${tag}}` : `${kind}:{${tag}}:${suffix}`;
}
