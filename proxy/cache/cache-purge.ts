// Admin purge of the shared cache: every entry (and Vary variant) of one URL, or of every URL
// under a prefix, on one route or all. Redis has no "delete by prefix", so this SCANs for the
// keys (on every master of a Cluster) and UNLINKs them in batches. Admin path, not request path.

import type { Cluster, Redis } from "ioredis";
import type { RedisStore } from "../redis/redis-store.js";
import { purgePatterns } from "./cache-keys.js";

const SCAN_COUNT = 500;

async function scanNode(node: Redis, match: string, prefixLength: number, out: string[]): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await node.scan(cursor, "MATCH", match, "COUNT", SCAN_COUNT);
    cursor = next;
    // SCAN answers full keys; the client adds its keyPrefix again on UNLINK, so strip it.
    for (const k of keys) out.push(k.slice(prefixLength));
  } while (cursor !== "0");
}

/** Deletes matching entries; resolves with how many keys were removed. */
export async function purgeCache(
  store: RedisStore,
  kind: "url" | "prefix",
  value: string,
  route?: string,
): Promise<number> {
  const found: string[] = [];
  const client = store.client;
  for (const pattern of purgePatterns(kind, value, route)) {
    const match = store.keyPrefix + pattern;
    if ((client as Cluster).isCluster) {
      for (const node of (client as Cluster).nodes("master"))
        await scanNode(node, match, store.keyPrefix.length, found);
    } else {
      await scanNode(client as Redis, match, store.keyPrefix.length, found);
    }
  }
  // The patterns may overlap (a prefix's two texts): each key is unlinked once.
  const keys = [...new Set(found)];
  let removed = 0;
  for (let i = 0; i < keys.length; i += SCAN_COUNT) {
    const batch = keys.slice(i, i + SCAN_COUNT);
    // One UNLINK per key: in a Cluster, keys of different URLs live in different slots.
    for (const k of batch) removed += await store.run((c) => c.unlink(k));
  }
  return removed;
}
