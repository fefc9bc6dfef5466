// The cache's read: GET, unless the value is larger than this route may hold. A plain GET took
// whatever Redis held at the key into memory: an entry written by an instance with a larger
// `maxBytes` (a config change, another fleet sharing the Redis) or put there by anyone with
// access cost the whole value per request, concurrently, before decodeEntry could refuse it.
// STRLEN first, in the same atomic script, so an oversized value never leaves Redis.

import { CACHE_ENTRY_HEAD_ALLOWANCE } from "../../config/file/edge-schema.js";
import type { LuaScript } from "../redis/redis-store.js";

/** Bytes an entry may take beyond its body: status, stored headers, vary list (see cache-entry.ts). */
export const ENTRY_HEAD_ALLOWANCE = CACHE_ENTRY_HEAD_ALLOWANCE;

/** KEYS[1] entry or vary marker; ARGV max bytes -> the value, nil when absent, -1 when larger. */
export const CACHE_GET: LuaScript = {
  name: "sgCacheGet",
  keys: 1,
  lua: `
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then
  return -1
end
return redis.call('GET', KEYS[1])
`,
};

/** The Buffer-answering variant ioredis defines beside every script. */
export const CACHE_GET_BUFFER = `${CACHE_GET.name}Buffer`;
