// The shared cache's key and the Host's port, tried from the outside: a real shardgate process,
// a real redis-server and a real member on 127.0.0.1, requests sent with node:http and the Host
// written by hand. The key read the Host without its port, so `a:8080` and `a:8081` were one
// entry: whoever asked first for a URL on one port planted the answer every client of the other
// port was then served (for a member whose sites differ by port, another site's page, until the
// entry expired). Two requests share an entry only when they are the same resource for the
// member: now any port but the default of the scheme the member is told keeps its own entries
// (`:443` on plain HTTP too, which a `header:host` key drops), while the spellings of one site
// (case, a trailing dot, that default port) still share one.

import assert from "node:assert/strict";
import { test } from "node:test";
import { BEHIND_AND_STATIC, type CacheAnswer, cacheRulesGatePerFile } from "../support/cache-rules-gate.js";

const gate = cacheRulesGatePerFile("hp:", BEHIND_AND_STATIC);

function head(host: string, proto: string | undefined): Record<string, string> {
  return proto === undefined ? { host } : { host, "x-forwarded-proto": proto };
}

function get(path: string, host: string, proto?: string): Promise<CacheAnswer> {
  return gate.get(path, head(host, proto));
}

function hit(path: string, host: string, proto?: string): Promise<CacheAnswer> {
  return gate.hit(path, head(host, proto));
}

test("a Host on another port is another site: its clients are never served the first port's entry", async () => {
  const path = "/static/ports/page";
  const planted = await get(path, "shop.test:8080");
  assert.equal(planted.cache, "MISS");
  assert.match(planted.body, /^GET shop\.test:8080 /);
  assert.match((await hit(path, "shop.test:8080")).body, /^GET shop\.test:8080 /);
  // The old code: HIT, with the body the member wrote for shop.test:8080.
  const other = await get(path, "shop.test:8081");
  assert.equal(other.cache, "MISS", `shop.test:8081 was served ${other.body}`);
  assert.match(other.body, /^GET shop\.test:8081 /);
  assert.equal(gate.member.count(path), 2, gate.member.asked.join("\n"));
  // And that port's own entry is what its clients get from then on.
  assert.match((await hit(path, "shop.test:8081")).body, /^GET shop\.test:8081 /);
  assert.match((await hit(path, "shop.test:8080")).body, /^GET shop\.test:8080 /);
});

test("the spellings of one site share its entries: case, a trailing dot, the default port", async () => {
  const path = "/static/spellings/page";
  assert.equal((await get(path, "site.test")).cache, "MISS");
  const stored = await hit(path, "site.test");
  for (const host of ["SITE.test", "site.test.", "site.test:80", "Site.Test.:80"]) {
    const a = await get(path, host);
    assert.equal(a.cache, "HIT", `${host} is site.test: ${a.body}`);
    assert.equal(a.body, stored.body);
  }
  assert.equal(gate.member.count(path), 1, gate.member.asked.join("\n"));
});

test("on plain HTTP, port 443 is another origin: a client naming it never plants the port-80 entry", async () => {
  const path = "/static/tls-port/page";
  const planted = await get(path, "plain.test:443");
  assert.equal(planted.cache, "MISS");
  assert.match(planted.body, /^GET plain\.test:443 /);
  await hit(path, "plain.test:443");
  // The old code: HIT, the answer the member built for an `http://plain.test:443` it would
  // link to (no such site) served to every client of http://plain.test.
  const site = await get(path, "plain.test");
  assert.equal(site.cache, "MISS", `plain.test was served ${site.body}`);
  assert.match(site.body, /^GET plain\.test /);
  assert.equal(gate.member.count(path), 2, gate.member.asked.join("\n"));
});

test("behind a trusted proxy that says https, port 443 is the default and port 80 another origin", async () => {
  const path = "/behind/tls-port/page";
  assert.equal((await get(path, "tls.test:443", "https")).cache, "MISS");
  const stored = await hit(path, "tls.test:443", "https");
  const same = await get(path, "tls.test", "https");
  assert.equal(same.cache, "HIT", `tls.test over https: ${same.body}`);
  assert.equal(same.body, stored.body);
  const other = await get(path, "tls.test:80", "https");
  assert.equal(other.cache, "MISS", `tls.test:80 over https was served ${other.body}`);
  assert.equal(gate.member.count(path), 2, gate.member.asked.join("\n"));
});
