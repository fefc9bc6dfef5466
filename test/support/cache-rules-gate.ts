// One shardgate caching into a real redis-server in front of one CacheRulesMember, started once
// per test file, for the shared-cache tries from the outside (test/outside/cache-*.test.ts). Each
// file gives its own key prefix and routes; pool `users` is the member alone. The gate also asks
// for a file: a GET with the head the test writes, and the same asked until it is a HIT.

import type { OutgoingHttpHeaders } from "node:http";
import { after, before } from "node:test";
import { CacheRulesMember } from "./cache-rules-member.js";
import { startRedis, stopAllRedis } from "./redis-server.js";
import { type RunningShardgate, startShardgate, stopAll } from "./shardgate-process.js";
import { startedInHook } from "./started-in-hook.js";
import { textRequest } from "./text-request.js";
import { eventually } from "./wait.js";

/** What a test judges of an answer: its status, its X-Cache ("HIT", "MISS", "undefined" for none) and body. */
export interface CacheAnswer {
  status: number;
  cache: string;
  body: string;
}

export interface CacheRulesGate {
  readonly member: CacheRulesMember;
  readonly sg: RunningShardgate;
  /** shardgate's HTTP port on 127.0.0.1. */
  readonly port: number;
  /** The redis-server's URL, for a test that reads or plants entries itself. */
  readonly redisUrl: string;
  /** GETs `path` with `headers` as the whole head (node adds no Host: the test's is the one sent). */
  get(path: string, headers: OutgoingHttpHeaders): Promise<CacheAnswer>;
  /** Asks as `get` until the answer is a HIT (the entry is written to Redis after the miss is answered). */
  hit(path: string, headers: OutgoingHttpHeaders): Promise<CacheAnswer>;
}

/** The admin token of the gate (for POST /admin/cache/purge). */
export const CACHE_GATE_TOKEN = "cache-gate-token-0123456789";

/**
 * A route to pool `users` keyed by path:2 and cached into Redis (entries up to 64 KiB); `extra`
 * is more of the route's fields, each a line of its own (YAML, as they stand in the route).
 */
export function cachedRoute(match: string, extra: string[] = []): string {
  return [
    `  - match: ${match}`,
    "    pool: users",
    "    key: [path:2]",
    ...extra.map((line) => `    ${line}`),
    "    cache: { store: redis, maxBytes: 64kb }",
    "",
  ].join("\n");
}

/**
 * The routes of the cache-key tries (cache-key-*.test.ts): /behind trusts the test's own address,
 * so what the test sends is what a load balancer or CDN in front would tell the member; /static
 * trusts nobody, so a client's forwarding fields are replaced or dropped.
 */
export const BEHIND_AND_STATIC =
  cachedRoute('{ host: "*", pathPrefix: /behind }', ["trustedProxies: [127.0.0.1/32]"]) +
  cachedRoute('{ host: "*", pathPrefix: /static }');

/** Starts all three in the file's `before` hook and stops them in its `after` hook. */
export function cacheRulesGatePerFile(keyPrefix: string, routes: string): CacheRulesGate {
  let member: CacheRulesMember | undefined;
  let sg: RunningShardgate | undefined;
  let port = 0;
  let redisUrl = "";
  before(async () => {
    const redis = await startRedis();
    redisUrl = redis.url;
    member = await new CacheRulesMember().start();
    sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
admin: { token: "${CACHE_GATE_TOKEN}" }
redis: { url: ${redis.url}, keyPrefix: "${keyPrefix}" }
pools:
  users:
    members: [{ id: origin, address: "127.0.0.1:${member.port}" }]
routes:
${routes}`);
    port = Number(new URL(sg.httpUrl).port);
  });
  after(async () => {
    await stopAll();
    await stopAllRedis();
    await member?.close();
  });
  const startedPort = () => startedInHook(port === 0 ? undefined : port, "shardgate's port");
  const get = async (path: string, headers: OutgoingHttpHeaders): Promise<CacheAnswer> => {
    const what = `${JSON.stringify(headers)} ${path}`;
    const a = await textRequest(startedPort(), { path, headers, setHost: false, what });
    return { status: a.status, cache: String(a.headers["x-cache"]), body: a.body };
  };
  return {
    get member() {
      return startedInHook(member, "the member");
    },
    get sg() {
      return startedInHook(sg, "shardgate");
    },
    get port() {
      return startedPort();
    },
    get redisUrl() {
      return startedInHook(redisUrl === "" ? undefined : redisUrl, "redis-server");
    },
    get,
    hit: (path, headers) =>
      eventually(`${JSON.stringify(headers)} ${path} answered from the cache`, async () => {
        const a = await get(path, headers);
        return a.cache === "HIT" ? a : undefined;
      }),
  };
}
