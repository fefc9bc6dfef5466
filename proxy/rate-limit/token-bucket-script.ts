// The fleet-wide token bucket, one atomic Lua script per request: refill by elapsed time
// (Redis's own clock, so instances' clocks never matter), take one token if there is one,
// and report what the RateLimit-* headers need. The bucket is a hash {tk, ts} under one key
// that expires once it would be full again (an idle key costs no memory). A bucket stamped in
// Redis's future (its clock stepped back: NTP, a resumed VM, `date -s`) is stamped now and
// refills from there: measured from the old stamp it got no token for the length of the step.

import type { LuaScript } from "../redis/redis-store.js";

/**
 * KEYS[1] bucket; ARGV rate (tokens per ms), burst ->
 * {allowed 0|1, tokens left (floor), ms until the next token when refused, ms until full}.
 */
export const TOKEN_BUCKET: LuaScript = {
  name: "sgTokenBucket",
  keys: 1,
  lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now < ts then
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local full = math.ceil((burst - tokens) / rate)
redis.call('HSET', KEYS[1], 'tk', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], full + 1000)
local retry = 0
if allowed == 0 then
  retry = math.ceil((1 - tokens) / rate)
end
return {allowed, math.floor(tokens), retry, full}
`,
};
