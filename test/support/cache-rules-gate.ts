// One shardgate caching into a real redis-server in front of one CacheRulesMember, started once
// per test file, for the shared-cache tries from the outside (test/outside/cache-*.test.ts). Each
// file gives its own key prefix and routes; pool `users` is the member alone.

import { after, before } from "node:test";
import { CacheRulesMember } from "./cache-rules-member.js";
import { startRedis, stopAllRedis } from "./redis-server.js";
import { type RunningShardgate, startShardgate, stopAll } from "./shardgate-process.js";
import { startedInHook } from "./started-in-hook.js";

export interface CacheRulesGate {
  readonly member: CacheRulesMember;
  readonly sg: RunningShardgate;
  /** shardgate's HTTP port on 127.0.0.1. */
  readonly port: number;
  /** The redis-server's URL, for a test that reads or plants entries itself. */
  readonly redisUrl: string;
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
  return {
    get member() {
      return startedInHook(member, "the member");
    },
    get sg() {
      return startedInHook(sg, "shardgate");
    },
    get port() {
      return startedInHook(port === 0 ? undefined : port, "shardgate's port");
    },
    get redisUrl() {
      return startedInHook(redisUrl === "" ? undefined : redisUrl, "redis-server");
    },
  };
}
