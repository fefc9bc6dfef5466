// The rate limiter's 429 is one of shardgate's own answers and is written like the others
// (errors.ts `errorBody`): a client-chosen request id (X-Request-Id, `<` and `>` allowed) comes
// back \u003c-escaped, never as markup, still parsing to the exact id, and the answer says
// `X-Content-Type-Options: nosniff`. Real shardgate harness, real redis-server.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { send } from "../proxy/harness.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { startEdgeHarness } from "./edge-harness.js";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => stopAllRedis());

test("a 429 carries the client's request id HTML-safe, with nosniff", async (t) => {
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: redis.url,
    redis: { keyPrefix: "rla:" },
    config: (members) => ({
      pools: { users: { members } },
      routes: [{ pool: "users", key: ["header:x-user-id"], rateLimit: { limit: 1, window: "1h", burst: 1 } }],
    }),
  });
  t.after(() => h.close());
  assert.equal((await send(h.port, { headers: { "x-user-id": "eve" } })).status, 200);
  for (const id of ["</script><script>alert(1)</script>", `<svg/onload=alert(2)>&"'`]) {
    const r = await send(h.port, { headers: { "x-user-id": "eve", "x-request-id": id } });
    const what = `request id ${id}: ${r.status} ${r.text}`;
    assert.equal(r.status, 429, what);
    assert.doesNotMatch(r.text, /[<>&]/, what);
    const body = r.json() as { error: string; requestId: string };
    assert.equal(body.error, "rate_limited", what);
    assert.equal(body.requestId, id, what);
    assert.equal(r.headers["x-content-type-options"], "nosniff", what);
    assert.equal(r.headers["x-request-id"], id, what);
  }
});
