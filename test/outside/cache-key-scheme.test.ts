// The shared cache's key and the scheme, tried from the outside: a real shardgate process, a real
// redis-server and a real member on 127.0.0.1 whose answer names the X-Forwarded-Proto it was told.
// The key held route, Host and URL but not the scheme, so an answer the member built for https
// (an HSTS header, absolute https links) was served to http clients of the same host and path, and
// back, unless the member sent `Vary: X-Forwarded-Proto`. RFC 9111 section 2 keys on the target
// URI, scheme included: now the scheme shardgate tells the member is part of the key, a purge
// still finds the entries of both schemes, and an entry an earlier build stored without the scheme
// is never served (a miss). The member is told that one scheme in X-Forwarded-Proto and in this
// hop's Forwarded element alike (the element said http behind a trusted proxy's https).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { encodeEntry } from "../../proxy/cache/cache-entry.js";
import {
  BEHIND_AND_STATIC,
  CACHE_GATE_TOKEN,
  type CacheAnswer,
  cacheRulesGatePerFile,
} from "../support/cache-rules-gate.js";
import { fetchJson } from "../support/shardgate-process.js";

// /behind's X-Forwarded-Proto is what the member is told (as from a TLS-terminating load
// balancer); /static's is replaced by this hop's (plain HTTP).
const gate = cacheRulesGatePerFile("sch:", BEHIND_AND_STATIC);

function head(proto: string | undefined): Record<string, string> {
  return proto === undefined ? { host: "shop.test" } : { host: "shop.test", "x-forwarded-proto": proto };
}

function get(path: string, proto?: string): Promise<CacheAnswer> {
  return gate.get(path, head(proto));
}

function hit(path: string, proto?: string): Promise<CacheAnswer> {
  return gate.hit(path, head(proto));
}

test("an answer fetched for https is never served to http clients, nor one for http to https clients", async () => {
  const path = "/behind/scheme/page";
  const tls = await get(path, "https");
  assert.equal(tls.cache, "MISS");
  assert.match(tls.body, /proto=https$/);
  assert.match((await hit(path, "https")).body, /proto=https$/);
  // The old code: HIT, with the body the member wrote for https.
  const plain = await get(path, "http");
  assert.equal(plain.cache, "MISS", `an http client was served ${plain.body}`);
  assert.match(plain.body, /proto=http$/);
  assert.equal(gate.member.count(path), 2, gate.member.asked.join("\n"));
  // Each scheme's entry is what its clients get from then on; spellings of one scheme share it.
  assert.match((await hit(path, "http")).body, /proto=http$/);
  for (const proto of ["https", "HTTPS", "https, HTTPS", " Https "]) {
    const a = await get(path, proto);
    assert.equal(a.cache, "HIT", `${proto}: ${a.body}`);
    assert.match(a.body, /proto=https$/, proto);
  }
  assert.equal(gate.member.count(path), 2, gate.member.asked.join("\n"));
});

test("behind a trusted proxy that says https, a member reading Forwarded is told https too, as the key is", async () => {
  // This hop's own Forwarded element said proto=http (the plain connection from the proxy) while
  // X-Forwarded-Proto and the key said https: a member reading Forwarded (Spring first, Rack its
  // last element) built http links into the https entry. Every spelling the key reads as https is
  // passed on as https, so a member reading the last X-Forwarded-Proto element (Rack) agrees too.
  for (const [i, proto] of ["https", " HTTPS ", "https, https"].entries()) {
    const path = `/behind/scheme/told/${i}`;
    assert.equal((await get(path, proto)).cache, "MISS", proto);
    const told = gate.member.lastHeaders.get(path);
    assert.equal(told?.forwarded, "for=127.0.0.1;host=shop.test;proto=https", proto);
    assert.equal(told?.["x-forwarded-proto"], "https", proto);
    assert.match((await hit(path, "https")).body, /proto=https$/, proto);
  }
  // Unchanged: a plain request is told http twice, an untrusted client's https is not believed,
  // and a trusted value that is no scheme is passed on, the element naming the connection's.
  const cases: Array<[string, string | undefined, string]> = [
    ["/behind/scheme/told/plain", undefined, "http"],
    ["/static/scheme/told/spoofed", "https", "http"],
    ["/behind/scheme/told/garbled", "h{t}tp", "h{t}tp"],
  ];
  for (const [path, proto, xfp] of cases) {
    await get(path, proto);
    const told = gate.member.lastHeaders.get(path);
    assert.equal(told?.forwarded, "for=127.0.0.1;host=shop.test;proto=http", path);
    assert.equal(told?.["x-forwarded-proto"], xfp, path);
  }
});

test("a trusted proxy that says https in Forwarded only is told on as https, and shares the https entry", async () => {
  // HAProxy's `option forwarded proto` in front, terminating TLS, writes proto=https and no
  // X-Forwarded-Proto: this hop told the member X-Forwarded-Proto http and appended proto=http,
  // so a member reading X-Forwarded-Proto (Express) or the last element (Rack) built http links,
  // under a key of its own, while a member reading the first element (Spring) built https ones.
  const path = "/behind/scheme/rfc7239";
  const forwarded = "for=192.0.2.7;proto=https";
  const a = await gate.get(path, { host: "shop.test", forwarded });
  assert.equal(a.cache, "MISS");
  const told = gate.member.lastHeaders.get(path);
  assert.equal(told?.["x-forwarded-proto"], "https");
  assert.equal(told?.forwarded, `${forwarded}, for=127.0.0.1;host=shop.test;proto=https`);
  // Told https either way, it is one origin: the entry a proxy speaking X-Forwarded-Proto gets.
  assert.match((await hit(path, "https")).body, /proto=https$/);
  assert.equal(gate.member.count(path), 1, gate.member.asked.join("\n"));
  // X-Forwarded-Proto decides when both are sent; the element names what it says.
  const both = "/behind/scheme/rfc7239-both";
  await gate.get(both, { host: "shop.test", forwarded, "x-forwarded-proto": "http" });
  assert.equal(gate.member.lastHeaders.get(both)?.["x-forwarded-proto"], "http");
  assert.equal(
    gate.member.lastHeaders.get(both)?.forwarded,
    `${forwarded}, for=127.0.0.1;host=shop.test;proto=http`,
  );
  // A proto= inside a quoted value, or one naming no scheme, tells nothing: this hop's http.
  for (const [i, f] of ['for="_x;proto=https"', "for=192.0.2.7;proto=h{t}tp"].entries()) {
    const p = `/behind/scheme/rfc7239-none/${i}`;
    await gate.get(p, { host: "shop.test", forwarded: f });
    assert.equal(gate.member.lastHeaders.get(p)?.["x-forwarded-proto"], "http", f);
    assert.equal(
      gate.member.lastHeaders.get(p)?.forwarded,
      `${f}, for=127.0.0.1;host=shop.test;proto=http`,
      f,
    );
  }
});

test("a trusted proxy's X-Forwarded-Proto list whose elements disagree is passed on as sent, never cached", async () => {
  // A proxy that appends (nginx's and OpenShift's append modes) puts its client's own value first:
  // a plain client that sent `https` arrives as `https, http`. Read by the first element, it was
  // served the https entry and, on a miss, the member was told https alone and the answer stored
  // as the https one. Now nothing in it is believed: the member gets the list as it was sent (a
  // member reading the last element reads the proxy's own) and this hop's element the connection's.
  const path = "/behind/scheme/appended";
  const stored = await get(path, "https");
  assert.equal(stored.cache, "MISS");
  await hit(path, "https");
  for (const proto of ["https, http", "http, https"]) {
    for (let i = 0; i < 2; i++) {
      const before = gate.member.count(path);
      const a = await get(path, proto);
      assert.equal(a.status, 200, proto);
      assert.equal(a.cache, "undefined", `${proto}: no X-Cache, the cache left the request alone: ${a.body}`);
      assert.equal(
        gate.member.count(path),
        before + 1,
        `${proto} reached the member\n${gate.member.asked.join("\n")}`,
      );
      const told = gate.member.lastHeaders.get(path);
      assert.equal(told?.["x-forwarded-proto"], proto);
      assert.equal(told?.forwarded, "for=127.0.0.1;host=shop.test;proto=http", proto);
    }
  }
  // The https entry is still what https clients get: nothing the lists were answered was stored.
  assert.equal((await hit(path, "https")).body, stored.body);
});

test("an untrusted client's X-Forwarded-Proto neither picks nor splits the entry: this hop's scheme keys it", async () => {
  const path = "/static/scheme/page";
  assert.equal((await get(path)).cache, "MISS");
  await hit(path);
  const a = await get(path, "https");
  assert.equal(a.cache, "HIT", a.body);
  assert.match(a.body, /proto=http$/);
  assert.equal(gate.member.count(path), 1, gate.member.asked.join("\n"));
});

test("a trusted proxy's X-Forwarded-Proto that is no scheme is passed on, never cached", async () => {
  const path = "/behind/scheme/garbled";
  for (let i = 0; i < 3; i++) {
    const a = await get(path, "h{t}tp");
    assert.equal(a.status, 200);
    assert.equal(a.cache, "undefined", "no X-Cache: the cache left the request alone");
  }
  assert.equal(gate.member.count(path), 3, gate.member.asked.join("\n"));
});

test("a purge removes the entries of both schemes", async () => {
  const path = "/behind/scheme/purged";
  for (const proto of ["http", "https"]) {
    assert.equal((await get(path, proto)).cache, "MISS");
    await hit(path, proto);
  }
  const r = await fetchJson(`${gate.sg.adminUrl}/admin/cache/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${CACHE_GATE_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ url: path }),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal((r.body as { removed: number }).removed, 2, r.text);
  for (const proto of ["http", "https"]) assert.equal((await get(path, proto)).cache, "MISS", proto);
});

test("an entry stored by a build that did not key the scheme is a miss, never served", async (t) => {
  const path = "/behind/scheme/older";
  const redis = new Redis(gate.redisUrl, { maxRetriesPerRequest: 1 });
  t.after(() => redis.quit());
  // What such a build wrote for an https client: route, Host and URL, no scheme.
  const body = Buffer.from("written for https by an older build");
  const entry = encodeEntry({
    head: {
      status: 200,
      headers: { "content-type": "text/plain", "cache-control": "max-age=60" },
      storedAt: Date.now(),
      age: 0,
      lifetime: 60,
      vary: [],
      authOk: false,
    },
    body,
  });
  await redis.set(`sch:c:{*/behind|shop.test|GET|${path}}`, entry, "PX", 60_000);
  for (const proto of ["http", "https"]) {
    const a = await get(path, proto);
    assert.equal(a.cache, "MISS", `${proto} was served ${a.body}`);
    assert.match(a.body, new RegExp(`proto=${proto}$`));
  }
});
