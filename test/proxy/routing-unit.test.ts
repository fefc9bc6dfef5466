// Route matching precedence and key extraction, without sockets.

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { canonicalAddress } from "../../proxy/routing/address-text.js";
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
  // Bad escapes are read as URLSearchParams reads them, so both hex cases are one key (the raw
  // text was the key: "%e0%a4%A" and "%E0%A4%A" went to two members).
  assert.equal(queryValue("/x?tenant=%e0%a4%A", "tenant="), queryValue("/x?tenant=%E0%A4%A", "tenant="));
  assert.equal(
    queryValue("/x?tenant=%E0%A4%A", "tenant="),
    new URLSearchParams("tenant=%E0%A4%A").get("tenant"),
  );
  assert.equal(queryValue("/x?tenant=a%62%ZZ", "tenant="), "ab%ZZ");
  assert.equal(
    queryValue("/x?t%65nant=a&tenant=b", "tenant="),
    "a",
    "names are compared decoded; the first wins",
  );
  assert.equal(queryValue("/x?xt%65nant=a&tenant=b%63", "tenant="), "bc");
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

test("client addresses: one text per address, whatever port, brackets, case or mapping it came in", () => {
  const same: [string, string][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["192.0.2.1:4711", "192.0.2.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["[::FFFF:192.0.2.1]:80", "192.0.2.1"],
    ["0:0:0:0:0:ffff:c000:201", "192.0.2.1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["[2001:0db8::0001]:443", "2001:db8::1"],
    ["[2001:db8::1]", "2001:db8::1"],
  ];
  for (const [text, want] of same) assert.equal(canonicalAddress(text), want, text);
  for (const text of [
    "unknown",
    "_hidden",
    "not an address",
    "[2001:db8::1",
    "host.example:80",
    "192.0.2.1:x",
  ])
    assert.equal(canonicalAddress(text), text, `${text} is no address and stays as written`);
  const trusted = compileKeyPlan(
    routesOf([{ pool: "p", key: ["ip"], trustedProxies: ["10.0.0.0/8"] }])[0],
  ).trusted;
  assert.equal(
    clientAddress(fakeReq("/", { "x-forwarded-for": "203.0.113.9:5555, 10.1.1.1:80" }), trusted),
    "203.0.113.9",
  );
  assert.equal(
    clientAddress(fakeReq("/", { forwarded: 'for="[2001:DB8::0:1]:8080"' }), trusted),
    "2001:db8::1",
  );
});

test("a path key is its segment percent-decoded: a%21b, a!b and a%2521... are read as characters", () => {
  const plan = compileKeyPlan(routesOf([{ pool: "p", key: ["path:2"] }])[0]);
  const key = (url: string): string => extractKey(plan, fakeReq(url, {}));
  assert.equal(key("/u/a%21b"), key("/u/a!b"));
  assert.equal(key("/u/a%20b"), "a b");
  assert.equal(key("/u/a+b"), "a+b", "a plus in a path is a plus");
  assert.equal(key("/u/j%C3%B6rg/x"), "jörg");
  assert.equal(key("/u/a%2Fb"), "a/b", "an encoded slash stays inside its segment");
  assert.equal(
    key("/u/%e0%A4"),
    key("/u/%E0%a4"),
    "an escape that is no UTF-8 is one key in either hex case",
  );
});
