// A rate limit and a client a trusted proxy cannot identify (`Forwarded: for=unknown`, or an
// obfuscated `for=_x`, RFC 7239 section 6). From feature level 5 such a node is no ip key, and the
// limiter's last resort, the client address, was "" there: every such request was counted in one
// `ip:` bucket, a bucket level 4 never used (level 4 counted `ip:unknown`, `ip:_x`). So at the
// level switch a spent client was admitted again (counted twice), and clients a proxy tells apart
// by obfuscated identifiers shared one bucket. Decided: a request with no key at level 5 is
// counted where level 4 counted it, by the node's text; the limit is never skipped for it.
// Real Redis, the in-process proxy with the edge engine, its keys read by v4 then v5 rules.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { send } from "../proxy/harness.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { type EdgeHarness, startEdgeHarness } from "./edge-harness.js";

const SEED = testSeed(4242);
const BURST = 2;

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => stopAllRedis());

function config(rateLimit: Record<string, unknown>, routeKey: string[]) {
  return (members: Array<{ id: string; address: string }>): ShardgateConfigInput => ({
    pools: { users: { members } },
    routes: [
      {
        pool: "users",
        key: routeKey,
        onMissingKey: "random",
        trustedProxies: ["127.0.0.1/32"],
        rateLimit: { limit: BURST, window: "1h", ...rateLimit },
      },
    ],
  });
}

async function start(
  t: { after(fn: () => Promise<void>): void },
  prefix: string,
  rateLimit: Record<string, unknown> = {},
  routeKey = ["header:x-user-id"],
): Promise<EdgeHarness> {
  const h = await startEdgeHarness({
    members: 2,
    redisUrl: redis.url,
    redis: { keyPrefix: prefix },
    config: config(rateLimit, routeKey),
  });
  t.after(() => h.close());
  return h;
}

async function status(h: EdgeHarness, forwarded: string): Promise<number> {
  return (await send(h.port, { path: "/x", headers: { forwarded } })).status;
}

/** Spends the bucket of `forwarded`: BURST admitted, then refused. */
async function spend(h: EdgeHarness, forwarded: string, what: string): Promise<void> {
  for (let i = 0; i < BURST; i++) assert.equal(await status(h, forwarded), 200, `${what}: request ${i + 1}`);
  assert.equal(await status(h, forwarded), 429, `${what}: the spent bucket refuses`);
}

const cases: Array<[string, Record<string, unknown>, string[]]> = [
  ["the client-address fallback", {}, ["header:x-user-id"]],
  ["the route's key [ip]", {}, ["ip"]],
  ["rateLimit.key [ip]", { key: ["ip"] }, ["header:x-user-id"]],
];

for (const [i, [name, rateLimit, routeKey]] of cases.entries()) {
  test(`${name}: a client spent at level 4 is still spent at level 5 (one bucket name across the switch)`, async (t) => {
    const h = await start(t, `rlna${i}:`, rateLimit, routeKey);
    h.setKeyRules("v4");
    await spend(h, "for=unknown", `${name}, v4, for=unknown`);
    h.setKeyRules("v5");
    assert.equal(await status(h, "for=unknown"), 429, `${name}: v5 counts for=unknown in level 4's bucket`);
    assert.equal(await status(h, "for=_spent"), 200, `${name}: another identifier has its own bucket`);
  });
}

test(`at level 5 obfuscated identifiers keep a bucket each; an address is not counted with them (${seedNote(SEED)})`, async (t) => {
  const h = await start(t, "rlnb:");
  h.setKeyRules("v5");
  const random = seededRandom(SEED);
  const id = () => `_${Math.floor(random() * 0x1000000).toString(36)}`;
  const a = id();
  let b = id();
  while (b === a) b = id();
  await spend(h, `for=${a}`, `v5 for=${a} (${seedNote(SEED)})`);
  assert.equal(await status(h, `for=${b}`), 200, `for=${b} is not counted with for=${a} (${seedNote(SEED)})`);
  await spend(h, "for=unknown", "v5 for=unknown");
  assert.equal(await status(h, "for=192.0.2.7"), 200, "an identified client has its own bucket");
  assert.equal(await status(h, `for=${b}`), 200, `for=${b} is not counted with for=unknown`);
});
