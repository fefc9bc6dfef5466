// Forwarding through the real listener to real upstreams: stickiness, spread, headers.

import assert from "node:assert/strict";
import { test } from "node:test";
import { hashKey } from "../../ring/hash.js";
import { randomKeys } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { defaultConfig, send, startHarness } from "./harness.js";

test("the same key reaches the same member on every request", async (t) => {
  const h = await startHarness({ members: 3 });
  t.after(() => h.close());
  const seed = testSeed(1101);
  for (const key of randomKeys(seed, 10)) {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await send(h.port, { headers: { "x-user-id": key } });
      assert.equal(r.status, 200, `${seedNote(seed)} key ${key}: ${r.text}`);
      seen.add(r.json().member);
    }
    assert.equal(seen.size, 1, `${seedNote(seed)}: key ${key} went to ${[...seen].join(",")}`);
  }
});

test("keys spread across every member, matching /admin/route's explanation", async (t) => {
  const h = await startHarness({ members: 3 });
  t.after(() => h.close());
  const seed = testSeed(2202);
  const counts = new Map<string, number>();
  for (const key of randomKeys(seed, 150)) {
    const r = await send(h.port, { headers: { "x-user-id": key } });
    const member = r.json().member as string;
    counts.set(member, (counts.get(member) ?? 0) + 1);
    assert.equal(h.plane.explain("users", key)?.member, member, `${seedNote(seed)} key ${key}`);
  }
  assert.equal(counts.size, 3, `${seedNote(seed)}: ${JSON.stringify([...counts])}`);
  for (const [m, n] of counts) assert.ok(n >= 20, `${seedNote(seed)}: member ${m} got only ${n}/150`);
});

test("request and response headers: XFF, forwarded proto/host, request id, hop-by-hop", async (t) => {
  const h = await startHarness({ members: 2 });
  t.after(() => h.close());
  const r = await send(h.port, {
    path: "/a/b?x=1",
    headers: {
      "x-user-id": "alice",
      "x-forwarded-for": "203.0.113.9",
      connection: "keep-alive, x-secret-hop",
      "x-secret-hop": "1",
      "keep-alive": "timeout=9",
      te: "trailers",
      "proxy-connection": "keep-alive",
      host: "shop.example.com:8080",
    },
  });
  assert.equal(r.status, 200);
  const seen = r.json();
  assert.equal(seen.path, "/a/b?x=1");
  assert.equal(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.equal(seen.headers["x-forwarded-host"], "shop.example.com:8080");
  assert.equal(seen.headers.host, "shop.example.com:8080", "Host is passed through");
  assert.equal(seen.headers["x-secret-hop"], undefined, "headers named in Connection are dropped");
  assert.equal(seen.headers.te, undefined);
  assert.equal(seen.headers["proxy-connection"], undefined);
  assert.equal(seen.headers["keep-alive"], undefined);
  assert.match(seen.headers["x-request-id"], /^[0-9a-f]{12}-[0-9a-z]+$/);
  assert.equal(r.headers["x-request-id"], seen.headers["x-request-id"]);
  assert.equal(r.headers["keep-alive"], undefined, "upstream keep-alive header stays on its hop");
  assert.equal(r.headers["x-shardgate-member"], undefined, "member header is off by default");

  const given = await send(h.port, { headers: { "x-user-id": "bob", "x-request-id": "req-abc-123" } });
  assert.equal(given.json().headers["x-request-id"], "req-abc-123");
  assert.equal(given.headers["x-request-id"], "req-abc-123");
  const bad = await send(h.port, { headers: { "x-user-id": "bob", "x-request-id": "has space" } });
  assert.notEqual(bad.json().headers["x-request-id"], "has space");

  const end = h.rec.ends.find((e) => e.requestId === "req-abc-123");
  assert.ok(end, "onRequestEnd saw the request");
  assert.equal(end.status, 200);
  assert.equal(end.pool, "users");
  assert.equal(end.attempts, 1);
  assert.equal(end.keyHash, hashKey("bob"), "the record carries the hash of the key, not the unset -1");
  assert.equal(JSON.stringify(end).includes("bob"), false, "the record never carries the raw key");
});

test("member and ring-version response headers when configured", async (t) => {
  const h = await startHarness({
    members: 2,
    options: { memberHeader: "x-shardgate-member", ringVersionHeader: "x-shardgate-ring-version" },
  });
  t.after(() => h.close());
  const r = await send(h.port, { headers: { "x-user-id": "carol" } });
  assert.equal(r.headers["x-shardgate-member"], r.json().member);
  assert.equal(r.headers["x-shardgate-ring-version"], String(h.holder.get().ringVersion));
});

test("bodies stream both ways unchanged (chunked and sized)", async (t) => {
  const h = await startHarness({ members: 2 });
  t.after(() => h.close());
  const big = "x".repeat(300_000);
  const r = await send(h.port, {
    method: "POST",
    path: "/upload",
    headers: { "x-user-id": "dan" },
    body: big,
  });
  assert.equal(r.status, 200);
  assert.equal(r.json().body.length, big.length);
  const slow = h.upstreams;
  for (const u of slow) u.mode = { kind: "slowStream", chunks: 5, everyMs: 10 };
  const s = await send(h.port, { headers: { "x-user-id": "dan" } });
  assert.equal(s.text.split("\n").filter(Boolean).length, 5);
});

test("no route -> 404 no_route; non-origin-form target -> 400", async (t) => {
  const h = await startHarness({
    members: 1,
    config: (members) => ({
      ...defaultConfig(members),
      routes: [{ match: { host: "api.example.com", pathPrefix: "/v1/" }, pool: "users", key: ["ip"] }],
    }),
  });
  t.after(() => h.close());
  const r = await send(h.port, { path: "/v2/x", headers: { host: "api.example.com" } });
  assert.equal(r.status, 404);
  assert.equal(r.json().error, "no_route");
  assert.ok(r.json().requestId);
  const ok = await send(h.port, { path: "/v1/x", headers: { host: "API.example.com:443" } });
  assert.equal(ok.status, 200);
  // `OPTIONS *` is answered 200 since e5158ab (test/outside/server-options.test.ts); another method's "*" is not.
  const star = await send(h.port, { method: "GET", path: "*", headers: { host: "api.example.com" } });
  assert.equal(star.status, 400);
  assert.equal(star.json().error, "bad_request");
});

test("Expect: 100-continue, HTTP/1.0 and HEAD are forwarded correctly", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  const { request } = await import("node:http");
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: h.port,
        method: "PUT",
        path: "/e",
        headers: { expect: "100-continue", "x-user-id": "e", "content-length": "5" },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () => resolve(text));
      },
    );
    req.on("continue", () => req.end("hello"));
    req.on("error", reject);
  });
  const echoed = JSON.parse(body);
  assert.equal(echoed.body, "hello");
  assert.equal(echoed.headers.expect, undefined, "the proxy answered the expectation itself");
  const { connect } = await import("node:net");
  const raw10 = await new Promise<string>((resolve) => {
    const s = connect(h.port, "127.0.0.1");
    let got = "";
    s.on("data", (d) => {
      got += d.toString();
    });
    s.on("close", () => resolve(got));
    s.write("GET /old HTTP/1.0\r\nX-User-Id: e\r\n\r\n");
    setTimeout(() => s.destroy(), 2000).unref();
  });
  assert.match(raw10, /^HTTP\/1\.0 200 |^HTTP\/1\.1 200 /);
  assert.match(raw10, /"path":"\/old"/);
  const head = await send(h.port, { method: "HEAD", headers: { "x-user-id": "e" } });
  assert.equal(head.status, 200);
  assert.equal(head.text, "");
});

test("a key taken from a path segment never reaches the request record's path (the access log)", async (t) => {
  const h = await startHarness({
    members: 2,
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [{ match: { host: "*", pathPrefix: "/u/" }, pool: "users", key: ["path:2"] }],
    }),
  });
  t.after(() => h.close());
  const r = await send(h.port, {
    path: "/u/secret-user-42/orders?x=1",
    headers: { "x-request-id": "path-key-1" },
  });
  assert.equal(r.status, 200);
  assert.equal(r.json().path, "/u/secret-user-42/orders?x=1", "the upstream still gets the path as sent");
  const end = h.rec.ends.find((e) => e.requestId === "path-key-1");
  assert.ok(end, "onRequestEnd saw the request");
  assert.equal(end.path, "/u/*/orders?x=1");
  assert.equal(end.keyHash, hashKey("secret-user-42"));
});
