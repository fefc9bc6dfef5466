// The shared cache's key and what a trusted proxy tells the member about the origin, tried from
// the outside: a real shardgate process, a real redis-server and a real member on 127.0.0.1. A
// trusted proxy's X-Forwarded-Host, -Port, -Prefix, -Uri and -Server (Traefik sends the last two
// on every request), and the proto= and host= of its Forwarded, reach the member, which may build
// absolute links and redirects from them; the key held Host and the X-Forwarded-Proto scheme
// only, so one request's answer built for `evil.test` was served to every client of `shop.test`
// (web-cache-poisoning through a CDN that passes a client's X-Forwarded-Host on); -Uri and
// -Server stayed out of the key a round longer. Now each told origin has entries of its own, and
// a request told nothing the key does not already hold keeps its key (and the entries stored before).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { Redis } from "ioredis";
import { BEHIND_AND_STATIC, CACHE_GATE_TOKEN, cacheRulesGatePerFile } from "../support/cache-rules-gate.js";
import { fetchJson } from "../support/shardgate-process.js";

// /behind trusts the test's own address (a load balancer or CDN in front); /static does not.
const gate = cacheRulesGatePerFile("told:", BEHIND_AND_STATIC);

type Told = Record<string, string>;

/** The X-Cache of a GET for `path` on shop.test, told `told` (a 200 asserted). */
async function get(path: string, told: Told = {}): Promise<string> {
  const a = await gate.get(path, { host: "shop.test", ...told });
  assert.equal(a.status, 200, a.body);
  return a.cache;
}

async function hit(path: string, told: Told = {}): Promise<void> {
  await gate.hit(path, { host: "shop.test", ...told });
}

/** Stores `path`'s entry for a request told nothing more, and checks its key is the plain one. */
async function storePlain(path: string, redis: Redis): Promise<void> {
  assert.equal(await get(path), "MISS");
  await hit(path);
  const route = path.startsWith("/behind") ? "*/behind" : "*/static";
  assert.equal(
    await redis.exists(`told:c:{${route}|http://shop.test|GET|${path}}`),
    1,
    "the key is unchanged",
  );
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}

function redisFor(t: { after: (fn: () => unknown) => void }): Redis {
  const redis = new Redis(gate.redisUrl, { maxRetriesPerRequest: 1 });
  t.after(() => redis.quit());
  return redis;
}

test("a trusted proxy's X-Forwarded-Host, -Port, -Prefix, -Uri or -Server that says more than the key has entries of its own", async (t) => {
  const redis = redisFor(t);
  const told: Told[] = [
    { "x-forwarded-host": "evil.test" },
    { "x-forwarded-host": "evil.test:8443" },
    { "x-forwarded-port": "6666" },
    { "x-forwarded-prefix": "/evil" },
    // Traefik sends both on every request: the target it was asked for, and its own host name.
    { "x-forwarded-uri": "/evil/behind/told/page" },
    { "x-forwarded-server": "evil.test" },
  ];
  const path = "/behind/told/page";
  await storePlain(path, redis);
  let asked = 1;
  for (const h of told) {
    // The old code: HIT, the answer the member built for Host shop.test (or the other way round).
    assert.equal(await get(path, h), "MISS", JSON.stringify(h));
    asked++;
    assert.equal(gate.member.count(path), asked, gate.member.asked.join("\n"));
    await hit(path, h);
  }
  // An origin told as builds before -Uri and -Server were read keeps its key and its entries.
  const before = JSON.stringify(["evil.test", undefined, undefined, undefined, undefined, ""]);
  const toldKey = `told:c:{*/behind|http://shop.test|GET|${path}}:o:${sha256(before)}`;
  assert.equal(await redis.exists(toldKey), 1, "the key of X-Forwarded-Host: evil.test is unchanged");
  // Each told origin's entry is its own, and the plain one still answers the plain request.
  assert.equal(await get(path), "HIT");
  for (const h of told) assert.equal(await get(path, h), "HIT", JSON.stringify(h));
  assert.equal(gate.member.count(path), asked, gate.member.asked.join("\n"));
  // A purge of the URL finds every told origin's entry with the plain one.
  const r = await fetchJson(`${gate.sg.adminUrl}/admin/cache/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${CACHE_GATE_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ url: path }),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal((r.body as { removed: number }).removed, told.length + 1, r.text);
  for (const h of [{}, ...told]) assert.equal(await get(path, h), "MISS", JSON.stringify(h));
});

test("told fields that agree with Host and scheme keep the plain key and share its entry", async (t) => {
  const redis = redisFor(t);
  const path = "/behind/told/same";
  await storePlain(path, redis);
  const agreeing: Told[] = [
    { "x-forwarded-host": "shop.test" },
    { "x-forwarded-port": "80" },
    { forwarded: "for=192.0.2.7" },
    { forwarded: 'for=192.0.2.7;proto=http;host="shop.test"' },
    { "x-forwarded-uri": path },
    { "x-forwarded-server": "shop.test" },
  ];
  for (const h of agreeing) assert.equal(await get(path, h), "HIT", JSON.stringify(h));
  assert.equal(gate.member.count(path), 1, gate.member.asked.join("\n"));
});

test("a trusted proxy's Forwarded proto=https is never served the http entry", async (t) => {
  const redis = redisFor(t);
  const path = "/behind/told/forwarded";
  await storePlain(path, redis);
  // Without X-Forwarded-Proto, Forwarded's https is the scheme the member is told (in both fields)
  // and the key's: the https entry, no told origin. Under X-Forwarded-Proto: http, which decides,
  // a member reading Forwarded's first element (Spring) still builds https links: its own entry.
  const forwarded = "for=192.0.2.7;proto=https";
  const told: Told[] = [
    { forwarded },
    { forwarded, "x-forwarded-proto": "http" },
    { forwarded: "host=evil.test" },
  ];
  for (const h of told) {
    assert.equal(await get(path, h), "MISS", JSON.stringify(h));
    await hit(path, h);
  }
  assert.equal(await redis.exists(`told:c:{*/behind|https://shop.test|GET|${path}}`), 1, "the https entry");
  assert.equal(await get(path, { "x-forwarded-proto": "https" }), "HIT");
  assert.equal(await get(path), "HIT");
  assert.equal(gate.member.count(path), 4, gate.member.asked.join("\n"));
});

test("an untrusted client's forwarding fields neither pick nor split the entry", async (t) => {
  const redis = redisFor(t);
  const path = "/static/told/page";
  await storePlain(path, redis);
  const spoofed: Told[] = [
    { "x-forwarded-host": "evil.test" },
    { "x-forwarded-port": "6666" },
    { "x-forwarded-prefix": "/evil" },
    { forwarded: "proto=https;host=evil.test" },
    { "x-forwarded-uri": "/evil/static/told/page" },
    { "x-forwarded-server": "evil.test" },
  ];
  for (const h of spoofed) {
    assert.equal(await get(path, h), "HIT", JSON.stringify(h));
  }
  assert.equal(gate.member.count(path), 1, gate.member.asked.join("\n"));
});

test("a URL purge removes a told origin's entry whenever it removes the plain one, long URLs too", async (t) => {
  const redis = redisFor(t);
  // The plain key of this URL is under storeKey's 256 characters; with "#<hash>" in the host
  // text (44 more) the told origin's key went over, was stored by hash, and no purge found it.
  const path = `/behind/told/${"l".repeat(186)}`;
  const told: Told = { "x-forwarded-host": "evil.test" };
  await storePlain(path, redis);
  assert.equal(await get(path, told), "MISS");
  await hit(path, told);
  const r = await fetchJson(`${gate.sg.adminUrl}/admin/cache/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${CACHE_GATE_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ url: path }),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal((r.body as { removed: number }).removed, 2, r.text);
  assert.equal(await get(path, told), "MISS");
  assert.equal(await get(path), "MISS");
});
