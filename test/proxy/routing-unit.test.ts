// Route matching precedence and key extraction, without sockets.

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import {
  clientAddress,
  compileKeyPlan,
  cookieValue,
  extractKey,
  pathSegment,
  queryValue,
  redactPathSegments,
} from "../../proxy/routing/key-extract.js";
import { compileRouteTable, normalizeHost } from "../../proxy/routing/route-table.js";

function routesOf(routes: unknown[]) {
  return configSchema.parse({ pools: { p: { members: [{ id: "a", address: "127.0.0.1:1" }] } }, routes })
    .routes;
}

function fakeReq(url: string, headers: Record<string, string>, peer = "10.0.0.5"): IncomingMessage {
  return { url, headers, socket: { remoteAddress: peer } } as unknown as IncomingMessage;
}

test("route precedence: exact host > longest suffix > any; then longest prefix; then config order", () => {
  const table = compileRouteTable(
    routesOf([
      { match: { host: "*", pathPrefix: "/" }, pool: "p", key: ["ip"] },
      { match: { host: "*", pathPrefix: "/api/" }, pool: "p", key: ["ip"] },
      { match: { host: "*.example.com", pathPrefix: "/" }, pool: "p", key: ["ip"] },
      { match: { host: "*.eu.example.com", pathPrefix: "/" }, pool: "p", key: ["ip"] },
      { match: { host: "shop.example.com", pathPrefix: "/cart" }, pool: "p", key: ["ip"] },
      { match: { host: "shop.example.com", pathPrefix: "/cart" }, pool: "p", key: ["ip"] },
      { match: { host: "shop.example.com", pathPrefix: "/cart/items" }, pool: "p", key: ["ip"] },
    ]),
  );
  const idx = (host: string | undefined, url: string) => table.match(host, url)?.index;
  assert.equal(idx("shop.example.com", "/cart/items/1"), 6, "longest prefix within the exact host");
  assert.equal(idx("SHOP.Example.com:8443", "/cart"), 4, "case and port ignored; first of equal routes");
  assert.equal(
    idx("shop.example.com", "/other"),
    2,
    "exact host without a matching prefix falls to the suffix tier",
  );
  assert.equal(idx("x.eu.example.com", "/"), 3, "longest suffix wins");
  assert.equal(idx("example.com", "/api/v1"), 1, "a suffix pattern does not match the apex");
  assert.equal(idx(undefined, "/x"), 0);
  assert.equal(idx("other.org", "/api/x"), 1);
  assert.equal(normalizeHost("[::1]:8080"), "[::1]");
  assert.equal(normalizeHost("Example.COM."), "example.com");
  const empty = compileRouteTable([]);
  assert.equal(empty.match("a", "/"), null);
});

test("cookie, query and path scanning", () => {
  assert.equal(cookieValue("a=1; uid=42; b=2", "uid="), "42");
  assert.equal(cookieValue("xuid=9; uid=42", "uid="), "42", "a name that ends another name does not match");
  assert.equal(cookieValue('uid="q"', "uid="), "q");
  assert.equal(cookieValue("a=1;uid=  ", "uid="), "");
  assert.equal(cookieValue("a=1", "uid="), "");
  assert.equal(queryValue("/x?tenant=acme&y=1", "tenant="), "acme");
  assert.equal(queryValue("/x?xtenant=1&tenant=a%20b+c", "tenant="), "a b c");
  assert.equal(queryValue("/x?tenant=%E0%A4%A", "tenant="), "%E0%A4%A", "bad escapes route on raw text");
  assert.equal(queryValue("/x?tenant=", "tenant="), "");
  assert.equal(queryValue("/tenant=1", "tenant="), "");
  assert.equal(pathSegment("/users/42/profile?x=1", 2), "42");
  assert.equal(pathSegment("/users/42/profile?x=1", 3), "profile");
  assert.equal(pathSegment("/users/42", 3), "");
  assert.equal(pathSegment("/users?x=/a/b", 2), "", "the query string is not part of the path");
});

test("key list: first non-empty source wins, in order", () => {
  const [route] = routesOf([
    { match: {}, pool: "p", key: ["header:X-User-Id", "cookie:uid", "query:tenant", "path:2", "ip"] },
  ]);
  const plan = compileKeyPlan(route);
  assert.equal(extractKey(plan, fakeReq("/u/7?tenant=t", { "x-user-id": "h", cookie: "uid=c" })), "h");
  assert.equal(extractKey(plan, fakeReq("/u/7?tenant=t", { "x-user-id": "", cookie: "uid=c" })), "c");
  assert.equal(extractKey(plan, fakeReq("/u/7?tenant=t", {})), "t");
  assert.equal(extractKey(plan, fakeReq("/u/7", {})), "7");
  assert.equal(extractKey(plan, fakeReq("/u", {}, "::ffff:10.1.2.3")), "10.1.2.3");
});

test("ip honours X-Forwarded-For only from trusted proxies (right-most untrusted entry)", () => {
  const [route] = routesOf([
    { match: {}, pool: "p", key: ["ip"], trustedProxies: ["10.0.0.0/8", "::1/128"] },
  ]);
  const plan = compileKeyPlan(route);
  const xff = { "x-forwarded-for": "198.51.100.7, 203.0.113.1, 10.9.9.9" };
  assert.equal(clientAddress(fakeReq("/", xff, "10.0.0.5"), plan.trusted), "203.0.113.1");
  assert.equal(clientAddress(fakeReq("/", xff, "192.0.2.1"), plan.trusted), "192.0.2.1", "untrusted peer");
  assert.equal(clientAddress(fakeReq("/", xff, "::1"), plan.trusted), "203.0.113.1");
  assert.equal(
    clientAddress(fakeReq("/", { "x-forwarded-for": "10.1.1.1" }, "10.0.0.5"), plan.trusted),
    "10.1.1.1",
  );
  const [open] = routesOf([{ match: {}, pool: "p", key: ["ip"] }]);
  assert.equal(clientAddress(fakeReq("/", xff, "10.0.0.5"), compileKeyPlan(open).trusted), "10.0.0.5");
});

test("onMissingKey cookie reads its own cookie back even when the key list does not name it", () => {
  const [route] = routesOf([
    { match: {}, pool: "p", key: ["header:x-user-id"], onMissingKey: "cookie", cookie: { name: "sg" } },
  ]);
  const plan = compileKeyPlan(route);
  assert.equal(extractKey(plan, fakeReq("/", { cookie: "sg=abc" })), "abc");
});

test("redactPathSegments hides exactly the key segments, keeps the rest and the query", () => {
  assert.equal(redactPathSegments("/u/alice/orders?x=1", [2]), "/u/*/orders?x=1");
  assert.equal(redactPathSegments("/alice", [1]), "/*");
  assert.equal(redactPathSegments("/a/b/c", [1, 3]), "/*/b/*");
  assert.equal(redactPathSegments("/a//c", [2]), "/a//c", "an empty segment is no key and stays empty");
  assert.equal(redactPathSegments("/a/b", [5]), "/a/b", "a segment past the end changes nothing");
  assert.equal(redactPathSegments("/a/b?k=/x/y", [3]), "/a/b?k=/x/y", "the query is not path");
  for (const url of ["/u/x/y", "/u/x/y?q", "/"]) {
    const spec = [2];
    assert.equal(pathSegment(redactPathSegments(url, spec), 2), pathSegment(url, 2) === "" ? "" : "*", url);
  }
});
