// The config of the edge features a fleet shares: the `redis:` store, and per route
// `affinity` (a signed cookie or a pin kept in Redis), `rateLimit` (a fleet-wide token
// bucket) and `cache` (a shared RFC 9111 response cache). All optional, all off by default.
// Like schema.ts, idempotent: a normalized value parses to itself (routes are replicated).

import { z } from "zod";
import { parseAddress } from "../address.js";
import { cookieSchema } from "./cookie-schema.js";
import { parseKeySpec } from "./key-spec.js";
import { bad, type Parsed } from "./parsed.js";
import { parseRedisUrl } from "./redis-url.js";
import { parseDuration, parseSize } from "./units.js";
import { field } from "./zod-field.js";

const duration = () => field((v) => parseDuration(v));
const period = () => field((v) => parseDuration(v, undefined, 1));
const posInt = () =>
  z.int({ error: "expected a positive integer" }).min(1, { error: "expected a positive integer" });
/** Redis PX takes a 64-bit integer, but a pin older than a year is a configuration mistake. */
const MAX_PIN_TTL_MS = 365 * 86_400_000;

// ----------------------------------------------------------------------------------- redis

/**
 * redis.maxReplyBytes's floor. Every reply counts against it, the ready check's at each connect
 * included (INFO: 4.9 KB from a bare Redis 7, more with keyspaces and modules): `0` passed
 * `validate` and `1kb` dropped every connection as it opened, so every feature kept in Redis fell
 * back as if Redis were down. 64 KiB is the framing allowance a cache reply is given.
 */
export const MIN_REPLY_BYTES = 64 * 1024;

function replyBytes(input: unknown): Parsed<number> {
  const size = parseSize(input);
  if (!size.ok || size.value >= MIN_REPLY_BYTES) return size;
  return bad(
    `at least 64kb (${MIN_REPLY_BYTES} bytes): every Redis reply counts against it, the INFO reply of each connect's ready check (about 5 KB) too, so a smaller bound leaves Redis unusable; leave it out for the default`,
  );
}

export const redisSchema = z
  .strictObject({
    /** redis://[user:password@]host:port[/db], rediss:// for TLS, or a unix socket path (redis-url.ts). Ignored when `cluster` is set. */
    url: field(parseRedisUrl).default("redis://127.0.0.1:6379"),
    /** Prepended to every key shardgate writes, so several fleets can share one Redis. */
    keyPrefix: z
      .string()
      .max(64)
      .regex(/^[^\s{}*?[\]]*$/, { error: 'expected a prefix without spaces, "{", "}" or glob characters' })
      .default("sg:"),
    connectTimeout: period().default(1_000),
    /** The most a request ever waits for Redis; past it the feature's store-error rule applies. */
    commandTimeout: period().default(250),
    /** Reconnects after a failure of a command sent on a dying connection (ioredis maxRetriesPerRequest). */
    maxRetries: z.int().min(0).max(5).default(1),
    /**
     * The most one reply may take; a larger one drops the connection (a hostile or broken
     * Redis). Absent: 4 MiB, or the largest route's cache.maxBytes + 256 KiB + 64 KiB if more.
     * Set below that for a cached route: a config error (cross-check.ts, checkReplyBound).
     */
    maxReplyBytes: field(replyBytes).optional(),
    sentinel: z
      .strictObject({
        name: z.string().trim().min(1),
        sentinels: z.array(field((v) => parseAddress(v, false))).min(1),
      })
      .optional(),
    cluster: z.strictObject({ nodes: z.array(field((v) => parseAddress(v, false))).min(1) }).optional(),
    /** After `failures` consecutive failed commands Redis is not asked for `openFor`. */
    breaker: z.strictObject({ failures: posInt().default(3), openFor: period().default(2_000) }).prefault({}),
  })
  .check((ctx) => {
    if (ctx.value.sentinel !== undefined && ctx.value.cluster !== undefined) {
      ctx.issues.push({
        code: "custom",
        path: ["cluster"],
        input: ctx.value.cluster,
        message: "redis.sentinel and redis.cluster cannot both be set",
        params: { expected: "either sentinel or cluster, not both" },
      });
    }
  });

// -------------------------------------------------------------------------------- affinity

export const AFFINITY_MODES = ["sticky", "ring"] as const;
const affinityCookieSchema = cookieSchema("sg_aff");

export const affinitySchema = z
  .strictObject({
    cookie: affinityCookieSchema.optional(),
    store: z.literal("redis", { error: 'expected "redis"' }).optional(),
    /** How long a pin in the store lives without requests (each request slides it). */
    ttl: field((v) => parseDuration(v, MAX_PIN_TTL_MS, 1)).default(1_800_000),
    /** sticky: a pin holds while its member is routable; ring: it also follows the ring's owner. */
    mode: z.enum(AFFINITY_MODES).default("sticky"),
    /** How long this instance trusts its own copy of a pin before asking the store again. */
    localTtl: duration().default(1_000),
    /** Pins kept in this instance's copy (oldest dropped first). */
    localMaxEntries: posInt().max(10_000_000).default(10_000),
    /** A draining member keeps its sessions this long after this instance first routed with it draining. */
    drainDeadline: duration().default(300_000),
  })
  .check((ctx) => {
    const v = ctx.value;
    if ((v.cookie === undefined) === (v.store === undefined)) {
      ctx.issues.push({
        code: "custom",
        path: [],
        input: v,
        message: "affinity needs exactly one of cookie or store",
        params: { expected: "either cookie: {...} or store: redis", found: v.cookie ? "both" : "neither" },
      });
    }
    if (v.localTtl > v.ttl) {
      ctx.issues.push({
        code: "custom",
        path: ["localTtl"],
        input: v.localTtl,
        message: "localTtl must not exceed ttl",
        params: { expected: `a duration <= ttl (${v.ttl}ms)`, found: `${v.localTtl}ms` },
      });
    }
  });

// ------------------------------------------------------------------------------ rate limit

export const ON_STORE_ERROR = ["open", "closed"] as const;

export const rateLimitSchema = z
  .strictObject({
    /** Key sources of the bucket (first non-empty); absent = the route's own key, else the client address. */
    key: z.array(field(parseKeySpec)).min(1).optional(),
    /** Requests refilled per window... */
    limit: posInt().max(1_000_000_000),
    window: period().default(1_000),
    /** ...into a bucket holding at most `burst` (default limit). */
    burst: posInt().max(1_000_000_000).optional(),
    store: z.literal("redis", { error: 'expected "redis"' }).default("redis"),
    /** Redis unreachable: open lets the request through (counted, logged), closed answers 503. */
    onStoreError: z.enum(ON_STORE_ERROR).default("open"),
  })
  .transform((r) => ({ ...r, burst: r.burst ?? r.limit }));

// ----------------------------------------------------------------------------------- cache

/** cache.maxBytes when a route's cache leaves it out. */
export const CACHE_DEFAULT_MAX_BYTES = 1024 * 1024;
/** Bytes a cache entry may take beyond its body: status, stored headers, vary list (proxy/cache/cache-entry.ts). */
export const CACHE_ENTRY_HEAD_ALLOWANCE = 256 * 1024;
/**
 * What the cache's GET reply for an entry may take beyond cache.maxBytes: the head allowance and
 * RESP framing. `redis.maxReplyBytes` below maxBytes + this can never serve a full-size entry.
 */
export const CACHE_REPLY_OVERHEAD = CACHE_ENTRY_HEAD_ALLOWANCE + 64 * 1024;
/**
 * cache.maxBytes's bound in a config file (cross-check.ts, checkCacheSize). A storable response
 * is held in memory whole, then copied once more into its entry, and Redis refuses a value over
 * 512 MB (proto-max-bulk-len): `100gb` passed `validate`, a response of a few GB was buffered
 * until the process ran out of memory, and one over 512 MB could never be stored anyway. Half
 * of Redis's limit leaves the head and the copy room.
 */
export const CACHE_MAX_BYTES_LIMIT = 256 * 1024 * 1024;

export const cacheSchema = z.strictObject({
  store: z.literal("redis", { error: 'expected "redis"' }).default("redis"),
  /** Largest response body stored; a bigger one is passed through uncached. */
  maxBytes: field(parseSize).default(CACHE_DEFAULT_MAX_BYTES),
  /** Cap on any entry's freshness lifetime, whatever the upstream says. */
  maxTtl: field((v) => parseDuration(v, MAX_PIN_TTL_MS, 1)).default(3_600_000),
  /** Concurrent misses for one entry on this instance wait for one upstream request. */
  coalesce: z.boolean().default(true),
  /** How long a coalesced request waits for the first one's response before going upstream itself. */
  coalesceTimeout: period().default(5_000),
});

export type RedisConfig = z.output<typeof redisSchema>;
export type AffinityConfig = z.output<typeof affinitySchema>;
export type AffinityCookieConfig = z.output<typeof affinityCookieSchema>;
export type AffinityMode = (typeof AFFINITY_MODES)[number];
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type CacheConfig = z.output<typeof cacheSchema>;
