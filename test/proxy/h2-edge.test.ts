// Edge features on routes to HTTP/2 pools (`protocol: h2c`): a rate limit answers gRPC
// clients (@grpc/grpc-js) RESOURCE_EXHAUSTED and HTTP/2 clients 429, with RateLimit-* headers
// on admitted answers; a cookie affinity issues its cookie over HTTP/2 and a later request
// carrying it goes to the cookie's member, not to its key's ring owner; a store (Redis)
// affinity pins a key and the pin is honoured. A cache on such a route stays a config error.
// Real HTTP/2 and gRPC upstreams, a real redis-server, the real h2c listener.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { crossCheck } from "../../config/file/cross-check.js";
import { hashKey } from "../../ring/hash.js";
import { type EdgeHarness, setCookieValue, startEdgeHarness } from "../edge/edge-harness.js";
import { type GrpcEcho, startGrpcEcho, unaryStatus } from "../support/grpc-echo.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { type H2Upstream, startH2Upstream } from "../support/h2-upstreams.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => stopAllRedis());

const COOKIE = "sg_aff";

async function h2Members(t: { after(fn: () => unknown): void }, n: number): Promise<H2Upstream[]> {
  const ups: H2Upstream[] = [];
  for (let i = 0; i < n; i++) ups.push(await startH2Upstream(`h${i}`));
  t.after(() => Promise.all(ups.map((u) => u.close())));
  return ups;
}

function grpcUnary(port: number, v: string): Promise<{ code: number; details: string }> {
  return unaryStatus(port, "x-tenant", v, "hi");
}

function ownerOf(h: EdgeHarness, pool: string, key: string): string {
  const snap = h.holder.get().pools.get(pool);
  assert.ok(snap);
  return snap.members[snap.table.lookup(hashKey(key))].id;
}

test("rate limit on an h2c gRPC pool: RESOURCE_EXHAUSTED for gRPC clients once the bucket is spent", async (t) => {
  const servers: GrpcEcho[] = [];
  for (let i = 0; i < 2; i++) servers.push(await startGrpcEcho(`g${i}`));
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: redis.url,
    redis: { keyPrefix: "h2rl1:" },
    config: () => ({
      pools: {
        grpc: {
          protocol: "h2c",
          members: servers.map((s) => ({ id: s.id, address: `127.0.0.1:${s.port}` })),
        },
      },
      routes: [{ pool: "grpc", key: ["header:x-tenant"], rateLimit: { limit: 3, window: "1h" } }],
    }),
  });
  t.after(() => h.close());
  for (let i = 0; i < 3; i++) {
    const r = await grpcUnary(h.port, "tenant-a");
    assert.equal(r.code, status.OK, `call ${i}: ${r.details}`);
  }
  const refused = await grpcUnary(h.port, "tenant-a");
  assert.equal(refused.code, status.RESOURCE_EXHAUSTED, refused.details);
  assert.match(refused.details, /rate_limited/);
  // Another tenant has its own bucket.
  assert.equal((await grpcUnary(h.port, "tenant-b")).code, status.OK);
  const end = h.rec.ends.find((e) => e.errorCode === "rate_limited");
  assert.equal(end?.member, "", "a refused call reached a member");
});

test("rate limit on an h2c pool over HTTP/2: RateLimit-* headers on admitted answers, then 429", async (t) => {
  const ups = await h2Members(t, 2);
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: redis.url,
    redis: { keyPrefix: "h2rl2:" },
    config: () => ({
      pools: {
        h2: { protocol: "h2c", members: ups.map((u) => ({ id: u.id, address: `127.0.0.1:${u.port}` })) },
      },
      routes: [{ pool: "h2", key: ["header:x-user-id"], rateLimit: { limit: 2, window: "1h" } }],
    }),
  });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  const remaining: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await h2Request(session, { headers: { "x-user-id": "alice" } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers["ratelimit-limit"], "2");
    remaining.push(String(r.headers["ratelimit-remaining"]));
  }
  assert.deepEqual(remaining, ["1", "0"]);
  const before = ups.reduce((n, u) => n + u.requests, 0);
  const r = await h2Request(session, { headers: { "x-user-id": "alice" } });
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json().error, "rate_limited");
  assert.ok(Number(r.headers["retry-after"]) >= 1);
  assert.equal(
    ups.reduce((n, u) => n + u.requests, 0),
    before,
    "the refused request reached an upstream",
  );
});

test("cookie affinity over HTTP/2 to an h2c pool: issued, then honoured over the key's ring owner", async (t) => {
  const ups = await h2Members(t, 3);
  const h = await startEdgeHarness({
    members: 1,
    config: () => ({
      pools: {
        h2: { protocol: "h2c", members: ups.map((u) => ({ id: u.id, address: `127.0.0.1:${u.port}` })) },
      },
      routes: [{ pool: "h2", key: ["header:x-user-id"], affinity: { cookie: { name: COOKIE, ttl: "1h" } } }],
    }),
  });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  const first = await h2Request(session, { headers: { "x-user-id": "alice" } });
  assert.equal(first.status, 200, first.text);
  const member = first.json().member as string;
  assert.equal(member, ownerOf(h, "h2", "alice"));
  const issued = setCookieValue(first.headers, COOKIE);
  assert.ok(issued, "no affinity cookie on the HTTP/2 answer");
  assert.equal(h.codec.verify("h2", issued, Math.floor(Date.now() / 1000)), member);
  // A key the ring sends elsewhere still goes to the cookie's member.
  let other = "";
  for (let i = 0; i < 1000 && other === ""; i++) if (ownerOf(h, "h2", `k${i}`) !== member) other = `k${i}`;
  assert.notEqual(other, "");
  const plain = await h2Request(session, { headers: { "x-user-id": other } });
  assert.notEqual(plain.json().member, member, "without the cookie the ring owner serves");
  const pinned = await h2Request(session, { headers: { "x-user-id": other, cookie: `${COOKIE}=${issued}` } });
  assert.equal(pinned.status, 200, pinned.text);
  assert.equal(pinned.json().member, member, "the affinity cookie was not honoured over HTTP/2");
});

test("store affinity (Redis) on an h2c pool: a key's pin is honoured after the ring moves it", async (t) => {
  const ups = await h2Members(t, 3);
  const pool = (ids: H2Upstream[]) => ({
    pools: {
      h2: {
        protocol: "h2c" as const,
        members: ids.map((u) => ({ id: u.id, address: `127.0.0.1:${u.port}` })),
      },
    },
    routes: [
      {
        pool: "h2",
        key: ["header:x-user-id"],
        affinity: { store: "redis" as const, ttl: "10m", localTtl: "50ms" },
      },
    ],
  });
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: redis.url,
    redis: { keyPrefix: "h2aff:" },
    config: () => pool(ups.slice(0, 2)),
  });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  // Keys pinned on two members; then a third member joins and takes some of them on the ring.
  const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  const pinned = new Map<string, string>();
  for (const k of keys) {
    const r = await h2Request(session, { headers: { "x-user-id": k } });
    assert.equal(r.status, 200, r.text);
    pinned.set(k, r.json().member);
  }
  h.setConfig(pool(ups));
  const moved = keys.filter((k) => ownerOf(h, "h2", k) !== pinned.get(k));
  assert.ok(moved.length > 0, "no key moved to the new member");
  for (const k of moved) {
    const r = await h2Request(session, { headers: { "x-user-id": k } });
    assert.equal(r.json().member, pinned.get(k), `key ${k} left its pinned member over HTTP/2`);
  }
});

test("a cache on a route to an h2c/h2 pool stays a config error naming why; affinity and rateLimit pass", () => {
  const issues = crossCheck(
    {
      pools: { g: { protocol: "h2c", members: [{ id: "a", address: "127.0.0.1:1" }] } },
      routes: [
        {
          pool: "g",
          key: ["header:x"],
          rateLimit: { limit: 1 },
          affinity: { cookie: { name: "a" } },
          cache: { ttl: "1s" },
        },
      ],
    },
    false,
  );
  assert.deepEqual(
    issues.map((i) => i.path.join(".")),
    ["routes.0.cache"],
  );
  assert.match(issues[0].message, /protocol h2c\/h2/);
  assert.match(issues[0].message, /gRPC responses/);
});
