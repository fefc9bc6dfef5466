// A real redis-server and one cacheable origin (test/edge/cache-upstream.ts) started once per
// test file, for the shared-cache tests, with the route those tests cache through: `/static`,
// keyed by path:2, entries up to 1 KiB.

import { after, before } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { CacheUpstream } from "../edge/cache-upstream.js";
import { type RedisServer, startRedis, stopAllRedis } from "./redis-server.js";
import { startedInHook } from "./started-in-hook.js";

export interface RedisCacheOrigin {
  readonly redis: RedisServer;
  readonly up: CacheUpstream;
  /** Pool `users` of the origin alone, and the `/static` route caching into Redis (maxBytes 1kb). */
  cachedConfig(): ShardgateConfigInput;
}

/** Starts both in the file's `before` hook and stops them in its `after` hook; read them inside tests. */
export function redisCacheOriginPerFile(): RedisCacheOrigin {
  let redis: RedisServer | undefined;
  let up: CacheUpstream | undefined;
  before(async () => {
    redis = await startRedis();
    up = await new CacheUpstream().start();
  });
  after(async () => {
    await up?.close();
    await stopAllRedis();
  });
  return {
    get redis() {
      return startedInHook(redis, "redis-server");
    },
    get up() {
      return startedInHook(up, "the cache origin");
    },
    cachedConfig() {
      const port = startedInHook(up, "the cache origin").port;
      return {
        pools: { users: { members: [{ id: "origin", address: `127.0.0.1:${port}` }] } },
        routes: [
          { match: { pathPrefix: "/static" }, pool: "users", key: ["path:2"], cache: { maxBytes: "1kb" } },
        ],
      };
    },
  };
}
