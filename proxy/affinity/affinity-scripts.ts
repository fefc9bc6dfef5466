// The Lua scripts of the store affinity: each runs atomically in Redis, so two instances
// pinning the same key at once agree on one member (the first SET NX wins), and a re-pin
// replaces only the pin it saw (compare-and-set), never a newer one.

import type { LuaScript } from "../redis/redis-store.js";

/**
 * Bytes of a stored pin read at most. A pin is a member id (config ids are at most 128 bytes,
 * discovered ones a pod name or Consul id); a larger value at the key (written by anything
 * else) is replaced as if absent and never read: a plain GET sent it whole to every instance.
 */
export const PIN_MAX = 1024;

/** KEYS[1] pin; ARGV proposed member, ttl ms -> {member, 1 if it was just pinned else 0}; slides the ttl. */
export const PIN: LuaScript = {
  name: "sgAffinityPin",
  keys: 1,
  lua: `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {ARGV[1], 1}
end
if redis.call('STRLEN', KEYS[1]) > ${PIN_MAX} then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], 1}
end
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], 1}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {v, 0}
`,
};

/** KEYS[1] pin; ARGV seen member, new member, ttl ms -> the member pinned afterwards. */
export const REPIN: LuaScript = {
  name: "sgAffinityRepin",
  keys: 1,
  lua: `
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return ARGV[2]
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return v
`,
};
