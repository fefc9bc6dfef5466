// The Redis-URL tests' shared set-up: one plain member for the file, every shardgate and
// redis-server the file started stopped after it, and a config whose route keeps a rate limit
// in the Redis named by the URL under test (so `start` must really reach that Redis).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before } from "node:test";
import { stopAllRedis } from "./redis-server.js";
import { stopAll } from "./shardgate-process.js";

/** Registers the file's before/after hooks; returns the config text for a `redis.url`. */
export function redisUrlFixture(): (url: string) => string {
  let member: Server;
  let memberPort = 0;
  before(async () => {
    member = createServer((req, res) => {
      req.resume();
      res.end("member answer");
    });
    await new Promise<void>((r) => member.listen(0, "127.0.0.1", r));
    memberPort = (member.address() as AddressInfo).port;
  });
  after(async () => {
    await stopAll();
    await stopAllRedis();
    member.closeAllConnections();
    await new Promise((r) => member.close(r));
  });
  return (url) => `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
redis: { url: "${url}" }
pools:
  p:
    members:
      - { id: m1, address: "127.0.0.1:${memberPort}" }
routes:
  - pool: p
    key: [header:x-k]
    rateLimit: { limit: 1, window: 1h, store: redis, onStoreError: closed }
`;
}
