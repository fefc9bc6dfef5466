// The rate limiter reads a request's bucket key by the spelling rules its route is compiled with
// (the committed cluster level's, key-extract.ts KeyRules), as routing does: below level 4 two
// spellings the previous build reads as two keys are two buckets (so old and new instances
// sharing Redis count alike during an upgrade); from level 4 on they are one. The same limiter
// object follows the switch (the edge engine keeps it across a route table recompile). Likewise a
// host key: `h.test:80` and `h.test.` are buckets apart from `h.test` below level 6, one from 6 on;
// on this plain listener `h.test:443` is a bucket apart at level 6 and the same one from level 7.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { send } from "../proxy/harness.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { type EdgeHarness, startEdgeHarness } from "./edge-harness.js";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => stopAllRedis());

const BURST = 2;

function config(rateLimit: Record<string, unknown>) {
  return (members: Array<{ id: string; address: string }>): ShardgateConfigInput => ({
    pools: { users: { members } },
    routes: [
      {
        pool: "users",
        key: ["header:x-user-id"],
        trustedProxies: ["127.0.0.1/32"],
        rateLimit: { limit: BURST, window: "1h", ...rateLimit },
      },
    ],
  });
}

async function start(
  t: { after(fn: () => Promise<void>): void },
  rateLimit: Record<string, unknown>,
  prefix: string,
): Promise<EdgeHarness> {
  const h = await startEdgeHarness({
    members: 2,
    redisUrl: redis.url,
    redis: { keyPrefix: prefix },
    config: config(rateLimit),
  });
  t.after(() => h.close());
  return h;
}

/** Spends `first`'s bucket (BURST admitted, then 429) and answers the status `second` gets next. */
async function afterSpending(
  h: EdgeHarness,
  first: { path?: string; headers?: Record<string, string> },
  second: { path?: string; headers?: Record<string, string> },
): Promise<number> {
  for (let i = 0; i < BURST; i++) assert.equal((await send(h.port, first)).status, 200, `request ${i + 1}`);
  assert.equal((await send(h.port, first)).status, 429, "the spent bucket refuses");
  return (await send(h.port, second)).status;
}

test("rateLimit.key path:2: /u/a%21b and /u/a!b are two buckets at level 3, one at level 4", async (t) => {
  const h = await start(t, { key: ["path:2"] }, "rlk1:");
  h.setKeyRules("v3");
  assert.equal(
    await afterSpending(h, { path: "/u/a%21b" }, { path: "/u/a!b" }),
    200,
    "level 3: the previous build reads a%21b and a!b as two keys, so two buckets",
  );
  h.setKeyRules("v4");
  assert.equal(
    await afterSpending(h, { path: "/u/c%21d" }, { path: "/u/c!d" }),
    429,
    "level 4: one key, one bucket",
  );
});

test("the client-address fallback: two spellings of one address are two buckets at level 3, one at level 4", async (t) => {
  // No rateLimit.key and no x-user-id: the bucket is the client address, read through the
  // trusted peer's Forwarded element.
  const h = await start(t, {}, "rlk2:");
  h.setKeyRules("v3");
  assert.equal(
    await afterSpending(
      h,
      { headers: { forwarded: 'for="[2001:DB8::1]:443"' } },
      { headers: { forwarded: 'for="[2001:db8::1]"' } },
    ),
    200,
    "level 3: a Forwarded node is only unmapped, so two spellings are two keys",
  );
  h.setKeyRules("v4");
  assert.equal(
    await afterSpending(
      h,
      { headers: { forwarded: 'for="[2001:DB8::2]:443"' } },
      { headers: { forwarded: 'for="[2001:db8::2]"' } },
    ),
    429,
    "level 4: canonical addresses, one bucket",
  );
});

test("behind a trusted proxy that sends only X-Forwarded-For, two clients are two buckets (not this hop's peer)", async (t) => {
  // The limiter once ran after this hop appended its own `Forwarded: for=<peer>`: RFC 7239 wins
  // over X-Forwarded-For, the peer is trusted, so every client behind the proxy was the peer.
  for (const [rateLimit, prefix] of [
    [{}, "rlk3:"],
    [{ key: ["ip"] }, "rlk4:"],
  ] as const) {
    const h = await start(t, rateLimit, prefix);
    assert.equal(
      await afterSpending(
        h,
        { headers: { "x-forwarded-for": "203.0.113.1" } },
        { headers: { "x-forwarded-for": "203.0.113.2" } },
      ),
      200,
      `rateLimit ${JSON.stringify(rateLimit)}: another client behind the proxy has its own bucket`,
    );
  }
});

test("rateLimit.key header:host: h.test:80, h.test. and h.test are three buckets at level 5, one at level 6", async (t) => {
  const h = await start(t, { key: ["header:host"] }, "rlk5:");
  h.setKeyRules("v5");
  for (const [first, other] of [
    ["A.Test", "a.test:80"],
    ["f.test", "f.test."],
  ])
    assert.equal(
      await afterSpending(h, { headers: { host: first } }, { headers: { host: other } }),
      200,
      `level 5: ${other} is a key of its own, so a bucket of its own`,
    );
  h.setKeyRules("v6");
  for (const [first, other] of [
    ["b.test", "B.test:80"],
    ["c.test:80", "c.test."],
    ["d.test.:080", "d.test"],
  ])
    assert.equal(
      await afterSpending(h, { headers: { host: first } }, { headers: { host: other } }),
      429,
      `level 6: ${first} and ${other} are one authority, one bucket`,
    );
  assert.equal(
    await afterSpending(h, { headers: { host: "e.test" } }, { headers: { host: "e.test:8080" } }),
    200,
    "level 6: another port is another key",
  );
});

test("rateLimit.key header:host on a plain listener: h.test:443 is a bucket of its own at level 6, h.test's at level 7", async (t) => {
  const h = await start(t, { key: ["header:host"] }, "rlk7:");
  h.setKeyRules("v6");
  assert.equal(
    await afterSpending(h, { headers: { host: "a.test" } }, { headers: { host: "a.test:443" } }),
    200,
    "level 6: 443 is a port of the key on a plain listener, so a bucket of its own",
  );
  h.setKeyRules("v7");
  for (const [first, other] of [
    ["b.test", "B.test:443"],
    ["c.test:443", "c.test.:80"],
    ["d.test.:0443", "d.test"],
  ])
    assert.equal(
      await afterSpending(h, { headers: { host: first } }, { headers: { host: other } }),
      429,
      `level 7: ${first} and ${other} are one authority on every listener, one bucket`,
    );
  assert.equal(
    await afterSpending(h, { headers: { host: "e.test" } }, { headers: { host: "e.test:8443" } }),
    200,
    "level 7: another port is another key",
  );
});
