// Rules that relate one part of the config to another (a route names a defined pool, member
// ids are unique, the cluster's own id is among its peers ...). They run on the raw value,
// defensively, next to the schema rather than after it, so a file with a type error in one
// place and a dangling pool reference in another gets both errors in one report.

import { CACHE_DEFAULT_MAX_BYTES, CACHE_MAX_BYTES_LIMIT, CACHE_REPLY_OVERHEAD } from "./edge-schema.js";
import { parseKeySpec } from "./key-spec.js";
import { didYouMean } from "./suggest.js";
import { parseDuration, parseSize } from "./units.js";

export interface CrossIssue {
  path: PropertyKey[];
  expected: string;
  found: string;
  message: string;
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const MIN_SECRET = 16;

function duplicates(
  items: unknown[],
  field: string,
  base: PropertyKey[],
  what: string,
  out: CrossIssue[],
): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const id = asObj(item)?.[field];
    if (typeof id !== "string") return;
    const prev = first.get(id);
    if (prev === undefined) {
      first.set(id, i);
      return;
    }
    out.push({
      path: [...base, i, field],
      expected: `a ${what} unique within the list`,
      found: `"${id}" (already used at [${prev}])`,
      message: `duplicate ${what} "${id}" (first used at ${String(base.at(-1))}[${prev}])`,
    });
  });
}

function checkPools(pools: Obj, out: CrossIssue[]): void {
  for (const [name, value] of Object.entries(pools)) {
    const pool = asObj(value);
    if (pool === undefined) continue;
    const members = asArr(pool.members);
    if (members.length === 0 && pool.discovery === undefined) {
      out.push({
        path: ["pools", name],
        expected: "a pool with members or discovery (consul or kubernetes)",
        found: "neither",
        message: `pool "${name}" has no members and no discovery: expected "members", "discovery.consul" or "discovery.kubernetes"`,
      });
    }
    duplicates(members, "id", ["pools", name, "members"], "member id", out);
  }
}

/**
 * A pool's option for the other algorithm (`pointsPerWeight` on a maglev pool, `tableSize` on
 * a ring one), in a file only: it did nothing, silently, while `ring simulate` refuses the same
 * mix and the table builder calls it RING_OPTION_MISMATCH. Committed routing always holds both
 * (the schema fills in each default), so it is not checked there.
 */
function checkAlgorithmOptions(pools: Obj, out: CrossIssue[]): void {
  for (const [name, value] of Object.entries(pools)) {
    const pool = asObj(value);
    // An unknown algorithm is the schema's error; this rule needs to know which one it is.
    if (pool === undefined || ![undefined, "ring", "maglev"].includes(pool.algorithm as string)) continue;
    const maglev = pool.algorithm === "maglev";
    const other = maglev ? "pointsPerWeight" : "tableSize";
    if (pool[other] === undefined) continue;
    const owner = maglev ? "ring" : "maglev";
    const algorithm = maglev ? "maglev" : pool.algorithm === undefined ? "ring (the default)" : "ring";
    out.push({
      path: ["pools", name, other],
      expected: `no ${other} (it applies to algorithm ${owner} only)`,
      found: String(pool[other]),
      message: `${other} applies to algorithm ${owner} only, and this pool's algorithm is ${algorithm}: remove it, or set algorithm: ${owner}`,
    });
  }
}

function checkRoutes(routes: unknown[], pools: Obj | undefined, out: CrossIssue[]): void {
  const seen = new Map<string, number>();
  routes.forEach((value, i) => {
    const route = asObj(value);
    if (route === undefined) return;
    if (typeof route.pool === "string" && pools !== undefined && !Object.hasOwn(pools, route.pool)) {
      const names = Object.keys(pools);
      out.push({
        path: ["routes", i, "pool"],
        expected:
          names.length > 0
            ? `the name of a pool defined under "pools" (${names.join(", ")})`
            : "a defined pool",
        found: `"${route.pool}"`,
        message: `route uses undefined pool "${route.pool}"${didYouMean(route.pool, names)}`,
      });
    }
    if (route.onMissingKey === "cookie") {
      const cookieName = asObj(route.cookie)?.name ?? "sg_key";
      const readsCookie = asArr(route.key).some((k) => {
        const spec = parseKeySpec(k);
        return spec.ok && spec.value.kind === "cookie" && spec.value.name === cookieName;
      });
      if (!readsCookie) {
        out.push({
          path: ["routes", i, "onMissingKey"],
          expected: `"cookie:${String(cookieName)}" in key (the cookie issued must be read back)`,
          found: "key without that cookie",
          message: `onMissingKey "cookie" issues cookie "${String(cookieName)}" but key never reads it: add "cookie:${String(cookieName)}" to key`,
        });
      }
    }
    const match = asObj(route.match);
    const host = typeof match?.host === "string" ? match.host.trim().toLowerCase() : "*";
    const prefix = typeof match?.pathPrefix === "string" ? match.pathPrefix : "/";
    if (match?.host === undefined || typeof match.host === "string") {
      const sig = `${host} ${prefix}`;
      const prev = seen.get(sig);
      if (prev !== undefined) {
        out.push({
          path: ["routes", i, "match"],
          expected: "a host + pathPrefix pair not used by an earlier route",
          found: `host "${host}" pathPrefix "${prefix}" (same as routes[${prev}])`,
          message: `route never matches: routes[${prev}] has the same host "${host}" and pathPrefix "${prefix}"`,
        });
      } else {
        seen.set(sig, i);
      }
    }
  });
}

/** Route features kept in Redis need the top-level `redis:` section that says where it is. */
function checkStoreUse(routes: unknown[], hasRedis: boolean, out: CrossIssue[]): void {
  if (hasRedis) return;
  routes.forEach((value, i) => {
    const route = asObj(value);
    if (route === undefined) return;
    const uses: Array<[string, boolean]> = [
      ["affinity", asObj(route.affinity)?.store !== undefined],
      ["rateLimit", asObj(route.rateLimit) !== undefined],
      ["cache", asObj(route.cache) !== undefined],
    ];
    for (const [feature, used] of uses) {
      if (!used) continue;
      out.push({
        path: ["routes", i, feature],
        expected: 'a top-level "redis:" section (the store this feature keeps its state in)',
        found: "no redis section",
        message: `routes[${i}].${feature} keeps its state in Redis: add "redis: { url: redis://HOST:PORT }"`,
      });
    }
  });
}

/**
 * A set `redis.maxReplyBytes` must hold the largest reply a route's cache reads: its maxBytes
 * plus the entry's head and RESP framing (CACHE_REPLY_OVERHEAD). Below that, every entry near
 * the route's own max size drops the Redis connection when read: it can never be served. Sizes
 * the schema refuses are left to the schema's error.
 */
function checkReplyBound(routes: unknown[], redis: Obj | undefined, out: CrossIssue[]): void {
  if (redis?.maxReplyBytes === undefined) return;
  const set = parseSize(redis.maxReplyBytes);
  if (!set.ok) return;
  let needed = 0;
  let at = -1;
  routes.forEach((value, i) => {
    const cache = asObj(asObj(value)?.cache);
    if (cache === undefined) return;
    const max =
      cache.maxBytes === undefined
        ? { ok: true as const, value: CACHE_DEFAULT_MAX_BYTES }
        : parseSize(cache.maxBytes);
    if (!max.ok || max.value + CACHE_REPLY_OVERHEAD <= needed) return;
    needed = max.value + CACHE_REPLY_OVERHEAD;
    at = i;
  });
  if (at < 0 || set.value >= needed) return;
  out.push({
    path: ["redis", "maxReplyBytes"],
    expected: `at least ${needed} bytes (routes[${at}].cache.maxBytes + ${CACHE_REPLY_OVERHEAD} for the entry's head and Redis framing)`,
    found: String(set.value),
    message: `${set.value} bytes is below the ${needed} bytes routes[${at}].cache needs (its maxBytes + ${CACHE_REPLY_OVERHEAD} for the entry's head and Redis framing): its largest entries could never be read; raise it, lower that cache.maxBytes, or leave maxReplyBytes out`,
  });
}

/**
 * routes[].cache.maxBytes from 1 byte to CACHE_MAX_BYTES_LIMIT, in a file only. Committed routing
 * (a command from a peer of an earlier build, a snapshot written before the bound) keeps what it
 * took: refusing it there would make this build skip a command the rest of the fleet applied,
 * or fail to read its own snapshot. Sizes the schema refuses are left to the schema's error.
 * `0` passed `validate` and stored only answers without a body: every other one went to the
 * member as a MISS, after a Redis lookup and a coalescing wait that could never pay off.
 */
function checkCacheSize(routes: unknown[], out: CrossIssue[]): void {
  routes.forEach((value, i) => {
    const raw = asObj(asObj(value)?.cache)?.maxBytes;
    if (raw === undefined) return;
    const size = parseSize(raw);
    if (!size.ok) return;
    if (size.value === 0) {
      out.push({
        path: ["routes", i, "cache", "maxBytes"],
        expected: "a size of at least 1 byte",
        found: "0",
        message:
          "0 bytes stores only answers without a body: every other one goes to the member uncached, after a Redis lookup for nothing; to turn the cache off, remove routes[].cache",
      });
      return;
    }
    if (size.value <= CACHE_MAX_BYTES_LIMIT) return;
    out.push({
      path: ["routes", i, "cache", "maxBytes"],
      expected: `a size of at most ${CACHE_MAX_BYTES_LIMIT} bytes (256mb)`,
      found: String(size.value),
      message: `${size.value} bytes is over the limit: at most ${CACHE_MAX_BYTES_LIMIT} bytes (256mb), as a storable body is held whole in memory and Redis refuses a value over 512 MB`,
    });
  });
}

/**
 * A cookie shardgate issues (routes[].cookie, routes[].affinity.cookie) lives at least 1s, in a
 * file only (committed routing keeps what it took, as with checkCacheSize). Max-Age is whole
 * seconds: `ttl: 0` or `500ms` sent `Max-Age=0`, which a browser takes as "delete it now", so
 * `onMissingKey: cookie` never stuck and nothing said why. Durations the schema refuses are
 * left to the schema's error. routes[].cookie is issued only under `onMissingKey: cookie`;
 * elsewhere its ttl does nothing, and a file that worked must not stop starting for it.
 */
function checkCookieTtl(routes: unknown[], out: CrossIssue[]): void {
  routes.forEach((value, i) => {
    const route = asObj(value);
    const issued = route?.onMissingKey === "cookie";
    const cookies: Array<[PropertyKey[], unknown]> = [
      [["cookie"], issued ? asObj(route?.cookie)?.ttl : undefined],
      [["affinity", "cookie"], asObj(asObj(route?.affinity)?.cookie)?.ttl],
    ];
    for (const [at, raw] of cookies) {
      if (raw === undefined) continue;
      const ttl = parseDuration(raw, Number.MAX_SAFE_INTEGER);
      if (!ttl.ok || ttl.value >= 1000) continue;
      out.push({
        path: ["routes", i, ...at, "ttl"],
        expected: "a duration of at least 1s (a cookie's Max-Age is whole seconds)",
        found: `${ttl.value}ms`,
        message: `a cookie ttl of ${ttl.value}ms is sent as Max-Age=0, which tells the browser to drop the cookie at once: give it at least 1s`,
      });
    }
  });
}

/**
 * The shared cache fills from an HTTP/1.1 upstream response stream (proxy/cache/); an
 * HTTP/2 pool's responses are relayed from HTTP/2 streams it does not tap, and gRPC answers
 * (status in trailers, POST) are never cacheable anyway, so a cache on a route to an
 * `h2c | h2` pool is refused at load. Affinity and rate limits work on any pool.
 */
function checkEdgeOnH2Pools(routes: unknown[], pools: Obj | undefined, out: CrossIssue[]): void {
  if (pools === undefined) return;
  routes.forEach((value, i) => {
    const route = asObj(value);
    if (route === undefined || typeof route.pool !== "string") return;
    const protocol = asObj(pools[route.pool])?.protocol;
    if (protocol !== "h2c" && protocol !== "h2") return;
    if (route.cache === undefined) return;
    out.push({
      path: ["routes", i, "cache"],
      expected: "no cache on a route to an HTTP/2 pool",
      found: `pool "${route.pool}" has protocol ${protocol}`,
      message:
        `routes[${i}].cache is not supported for pools with protocol h2c/h2: the cache stores ` +
        "HTTP/1.1 upstream responses, and gRPC responses (POST, status in trailers) are not " +
        "cacheable; remove it, or use protocol http1 for a plain HTTP pool you want cached",
    });
  });
}

function checkCluster(cluster: Obj, out: CrossIssue[]): void {
  const peers = asArr(cluster.peers);
  duplicates(peers, "id", ["cluster", "peers"], "peer id", out);
  const ids = peers.map((p) => asObj(p)?.id).filter((id): id is string => typeof id === "string");
  if (peers.length > 0 && typeof cluster.id === "string" && !ids.includes(cluster.id)) {
    out.push({
      path: ["cluster", "id"],
      expected: `one of the peer ids (${ids.join(", ")})`,
      found: `"${cluster.id}"`,
      message: `cluster.id "${cluster.id}" is not among cluster.peers${didYouMean(cluster.id, ids)}`,
    });
  }
  asArr(cluster.voters).forEach((v, i) => {
    if (typeof v === "string" && peers.length > 0 && !ids.includes(v)) {
      out.push({
        path: ["cluster", "voters", i],
        expected: `one of the peer ids (${ids.join(", ")})`,
        found: `"${v}"`,
        message: `voter "${v}" is not among cluster.peers${didYouMean(v, ids)}`,
      });
    }
  });
  if (peers.length > 1) {
    const secret = cluster.secret;
    if (typeof secret !== "string" || secret.length < MIN_SECRET) {
      out.push({
        path: ["cluster", "secret"],
        expected: `a secret of at least ${MIN_SECRET} characters (required with more than one peer)`,
        found: typeof secret === "string" ? `${secret.length} characters` : "nothing (missing)",
        message: `cluster.secret must be at least ${MIN_SECRET} characters when cluster.peers has more than one member`,
      });
    }
  }
}

/**
 * Cross-field rules over a raw (interpolated, not yet normalized) config or routing value;
 * `wholeFile` adds the rules that need sections outside the replicated routing.
 */
export function crossCheck(raw: unknown, wholeFile = false): CrossIssue[] {
  const out: CrossIssue[] = [];
  const root = asObj(raw);
  if (root === undefined) return out;
  const pools = asObj(root.pools);
  if (pools !== undefined) checkPools(pools, out);
  checkRoutes(asArr(root.routes), pools, out);
  checkEdgeOnH2Pools(asArr(root.routes), pools, out);
  // Routing alone (a replicated command) carries no redis section; only a whole file does.
  if (wholeFile) {
    if (pools !== undefined) checkAlgorithmOptions(pools, out);
    checkCacheSize(asArr(root.routes), out);
    checkCookieTtl(asArr(root.routes), out);
    checkStoreUse(asArr(root.routes), asObj(root.redis) !== undefined, out);
    checkReplyBound(asArr(root.routes), asObj(root.redis), out);
  }
  const cluster = asObj(root.cluster);
  if (cluster !== undefined) checkCluster(cluster, out);
  return out;
}
