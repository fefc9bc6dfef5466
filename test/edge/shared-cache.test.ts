import assert from "node:assert/strict";
import { Agent } from "node:http";
import { test } from "node:test";
import { purgeCache } from "../../proxy/cache/cache-purge.js";
import { send } from "../proxy/harness.js";
import { redisCacheOriginPerFile } from "../support/redis-cache-origin.js";
import { startRedis } from "../support/redis-server.js";
import { eventually } from "../support/wait.js";
import { type EdgeHarness, startEdgeHarness } from "./edge-harness.js";

const origin = redisCacheOriginPerFile();

async function start(t: { after(fn: () => Promise<void>): void }, prefix: string, url = origin.redis.url) {
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: url,
    redis: { keyPrefix: prefix },
    config: origin.cachedConfig,
  });
  t.after(() => h.close());
  return h;
}

/** Waits until the background write of `path`'s entry is visible (the fill is answered before it lands). */
async function get(h: EdgeHarness, path: string, headers: Record<string, string> = {}, method = "GET") {
  return send(h.port, { path, headers, method });
}

async function stored(h: EdgeHarness, path: string): Promise<void> {
  await eventually(`${path} to be stored`, async () => {
    const n = await h.store?.run((c) => c.exists(`c:{*/static|http://127.0.0.1:${h.port}|GET|${path}}`));
    return n === 1 ? true : undefined;
  });
}

test("a storable response is a MISS, then a HIT with Age, served without the upstream; HEAD uses it too", async (t) => {
  const h = await start(t, "c1:");
  const p = "/static/public/a";
  const first = await get(h, p);
  assert.equal(first.status, 200);
  assert.equal(first.headers["x-cache"], "MISS");
  await stored(h, p);
  const second = await get(h, p);
  assert.equal(second.headers["x-cache"], "HIT");
  assert.equal(second.text, first.text);
  assert.ok(Number(second.headers.age) >= 0);
  assert.equal(second.headers["cache-control"], "public, max-age=60");
  assert.equal(second.headers["content-length"], String(Buffer.byteLength(first.text)));
  const head = await get(h, p, {}, "HEAD");
  assert.equal(head.headers["x-cache"], "HIT");
  assert.equal(head.text, "");
  assert.equal(origin.up.count(p), 1);
  assert.match(
    await h.registry.metrics(),
    /shardgate_cache_requests_total\{route="\*\/static",result="hit"\} 2/,
  );
});

test("a route matching many hosts keeps one host's entries from another's", async (t) => {
  const h = await start(t, "c10:");
  const p = "/static/public/hosted";
  await get(h, p, { host: "a.example" });
  await eventually("a.example's entry", async () =>
    (await get(h, p, { host: "a.example" })).headers["x-cache"] === "HIT" ? true : undefined,
  );
  assert.equal((await get(h, p, { host: "b.example" })).headers["x-cache"], "MISS");
  assert.equal(
    (await get(h, p, { host: "A.EXAMPLE:80" })).headers["x-cache"],
    "HIT",
    "host compared normalized",
  );
});

test("Age counts the upstream's own age plus the time in the cache", async (t) => {
  const h = await start(t, "c2:");
  await get(h, "/static/aged/a");
  await stored(h, "/static/aged/a");
  const r = await get(h, "/static/aged/a");
  assert.equal(r.headers["x-cache"], "HIT");
  assert.ok(Number(r.headers.age) >= 100, `age ${r.headers.age}`);
});

test("not stored: private, no-store, no freshness, Set-Cookie, too large; request no-store bypasses", async (t) => {
  const h = await start(t, "c3:");
  for (const p of [
    "/static/private/a",
    "/static/nostore/a",
    "/static/none/a",
    "/static/cookie/a",
    "/static/big/a",
  ]) {
    await get(h, p);
    const r = await get(h, p);
    assert.equal(r.headers["x-cache"], "MISS", p);
    assert.equal(origin.up.count(p), 2, `${p} went upstream twice`);
  }
  await get(h, "/static/public/b");
  await stored(h, "/static/public/b");
  const bypass = await get(h, "/static/public/b", { "cache-control": "no-store" });
  assert.equal(bypass.headers["x-cache"], undefined);
  assert.equal(origin.up.count("/static/public/b"), 2);
});

test("Authorization: stored and served only when the response allows it (public / s-maxage)", async (t) => {
  const h = await start(t, "c4:");
  const auth = { authorization: "Bearer t" };
  await get(h, "/static/maxage/a", auth);
  await get(h, "/static/maxage/a", auth);
  assert.equal(
    origin.up.count("/static/maxage/a"),
    2,
    "max-age alone does not allow sharing an authorized response",
  );
  await get(h, "/static/smaxage/a", auth);
  await stored(h, "/static/smaxage/a");
  assert.equal((await get(h, "/static/smaxage/a", auth)).headers["x-cache"], "HIT");
  // An entry stored without Authorization and without public is not given to an authorized request.
  await get(h, "/static/maxage/b");
  await stored(h, "/static/maxage/b");
  assert.equal((await get(h, "/static/maxage/b")).headers["x-cache"], "HIT");
  assert.equal((await get(h, "/static/maxage/b", auth)).headers["x-cache"], "MISS");
});

test("Vary: each variant is its own entry", async (t) => {
  const h = await start(t, "c5:");
  const p = "/static/vary/a";
  const en = await get(h, p, { "accept-language": "en" });
  await eventually("en stored", async () => {
    const r = await get(h, p, { "accept-language": "en" });
    return r.headers["x-cache"] === "HIT" ? r : undefined;
  });
  const fr = await get(h, p, { "accept-language": "fr" });
  assert.equal(fr.headers["x-cache"], "MISS");
  assert.match(fr.text, /lang=fr/);
  const enAgain = await get(h, p, { "accept-language": "en" });
  assert.equal(enAgain.text, en.text);
});

test("a hundred concurrent misses for one URL send one request upstream", async (t) => {
  const h = await start(t, "c6:");
  const p = "/static/slow/a";
  const agent = new Agent({ keepAlive: true, maxSockets: 100 });
  t.after(() => agent.destroy());
  const replies = await Promise.all(Array.from({ length: 100 }, () => send(h.port, { path: p, agent })));
  assert.equal(origin.up.count(p), 1, `upstream saw ${origin.up.count(p)} requests`);
  for (const r of replies) {
    assert.equal(r.status, 200);
    assert.equal(r.text, `${p} #1`);
  }
});

test("two instances share the cache", async (t) => {
  const a = await start(t, "c7:");
  const b = await start(t, "c7:");
  // The fleet's one name: each instance listens on its own port, and a Host's port is part of
  // the entry's key.
  const host = { host: "static.test" };
  await get(a, "/static/public/shared", host);
  await eventually("/static/public/shared to be stored", async () => {
    const n = await a.store?.run((c) =>
      c.exists("c:{*/static|http://static.test|GET|/static/public/shared}"),
    );
    return n === 1 ? true : undefined;
  });
  const r = await get(b, "/static/public/shared", host);
  assert.equal(r.headers["x-cache"], "HIT");
  assert.equal(origin.up.count("/static/public/shared"), 1);
});

test("an entry expires with its freshness lifetime", async (t) => {
  const h = await start(t, "c8:");
  await get(h, "/static/short/a");
  await eventually(
    "the entry to go stale",
    async () => ((await get(h, "/static/short/a")).headers["x-cache"] === "MISS" ? true : undefined),
    10_000,
    200,
  );
  assert.ok(origin.up.count("/static/short/a") >= 2);
});

test("Redis down: every request is a miss served by the upstream, counted as store errors", async (t) => {
  const own = await startRedis();
  const h = await start(t, "c9:", own.url);
  await own.kill();
  for (let i = 0; i < 5; i++) {
    const r = await get(h, "/static/public/down");
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-cache"], "MISS");
  }
  assert.match(await h.registry.metrics(), /shardgate_store_errors_total\{feature="cache"\} [1-9]/);
  await own.stop();
});

test("a purge removes a URL's entries under its key text and under the one earlier builds wrote", async (t) => {
  const h = await start(t, "c9:");
  const store = h.store;
  assert.ok(store);
  // `/static/public/a}` as this build writes it, and as instances of earlier builds (still
  // running during a rolling upgrade) wrote it: "}" as "%7D", with and without the scheme.
  // Another URL is left alone.
  const keys = [
    "c:{*/static|https://site.test|GET|/static/public/a{7D}",
    "c:{*/static|http://site.test|GET|/static/public/a%7D}",
    "c:{*/static|site.test|GET|/static/public/a%7D}:v:x",
  ];
  const other = "c:{*/static|site.test|GET|/static/public/b}";
  for (const k of [...keys, other]) await store.run((c) => c.set(k, "x", "PX", 60_000));
  assert.equal(await purgeCache(store, "url", "/static/public/a}"), keys.length);
  for (const k of keys) assert.equal(await store.run((c) => c.exists(k)), 0, k);
  assert.equal(await store.run((c) => c.exists(other)), 1);
  // A prefix covering both texts finds each key once.
  for (const k of keys) await store.run((c) => c.set(k, "x", "PX", 60_000));
  assert.equal(await purgeCache(store, "prefix", "/static/public/a"), keys.length);
});

test("a URL of percent-escapes whose key fits the id limit is purged by its url", async (t) => {
  const h = await start(t, "c11:");
  const store = h.store;
  assert.ok(store);
  // A non-ASCII slug (文 twenty times, 180 characters escaped): the key's id fits the 256 it may
  // have before it is stored by hash. Writing each "%" as "%25" made it 300, so the entry was
  // stored by hash, out of reach of a purge, until it expired.
  const p = `/static/public/${"%E6%96%87".repeat(20)}`;
  assert.equal((await get(h, p)).headers["x-cache"], "MISS");
  await eventually(`${p} answered from the cache`, async () =>
    (await get(h, p)).headers["x-cache"] === "HIT" ? true : undefined,
  );
  assert.equal(await purgeCache(store, "url", p), 1);
  assert.equal((await get(h, p)).headers["x-cache"], "MISS");
});
