import assert from "node:assert/strict";
import { test } from "node:test";
import { isStorable, parseCacheControl, requestMode, storable } from "../../proxy/cache/cache-policy.js";

const NOW = Date.parse("2026-12-01T00:00:00Z");

test("Cache-Control parsing: names lower-cased, quoted values, several headers", () => {
  const d = parseCacheControl(['Public, S-MaxAge="30"', "max-age=5"]);
  assert.ok(d.names.has("public"));
  assert.equal(d.values.get("s-maxage"), "30");
  assert.equal(d.values.get("max-age"), "5");
});

test("request modes", () => {
  assert.equal(requestMode("POST", {}), "bypass");
  assert.equal(requestMode("GET", { "cache-control": "no-store" }), "bypass");
  assert.equal(requestMode("GET", { "cache-control": "no-cache" }), "refresh");
  assert.equal(requestMode("GET", { "cache-control": "max-age=0" }), "refresh");
  assert.equal(requestMode("GET", { pragma: "no-cache" }), "refresh");
  assert.equal(requestMode("HEAD", {}), "lookup");
  // Preconditions only the member can evaluate: forwarded, the answer may refresh the entry.
  assert.equal(requestMode("GET", { "if-match": '"a"' }), "refresh");
  assert.equal(requestMode("HEAD", { "if-unmodified-since": "Mon, 07 Dec 2026 00:00:00 GMT" }), "refresh");
  assert.equal(requestMode("GET", { "if-match": "*", "cache-control": "no-store" }), "bypass");
  assert.equal(requestMode("GET", { "if-none-match": '"a"', "if-modified-since": "x" }), "lookup");
});

test("freshness: s-maxage over max-age over Expires - Date; Age subtracted; invalid values stale", () => {
  const life = (res: Record<string, string>) => {
    const s = storable(200, {}, res, NOW);
    return isStorable(s) ? s.lifetime - s.age : s.reason;
  };
  assert.equal(life({ "cache-control": "max-age=60, s-maxage=10" }), 10);
  assert.equal(life({ "cache-control": "max-age=60" }), 60);
  assert.equal(life({ "cache-control": "max-age=60", age: "20" }), 40);
  assert.equal(
    life({ expires: new Date(NOW + 30_000).toUTCString(), date: new Date(NOW).toUTCString() }),
    30,
  );
  assert.equal(life({ "cache-control": "max-age=soon" }), "already stale");
  assert.equal(life({ "cache-control": "max-age=60", age: "61" }), "already stale");
  assert.equal(life({}), "no explicit freshness");
});

test("never stored: private, no-store, no-cache, Set-Cookie, Vary *, uncacheable status", () => {
  const reason = (status: number, res: Record<string, string>, req: Record<string, string> = {}) => {
    const s = storable(status, req, res, NOW);
    return isStorable(s) ? "stored" : s.reason;
  };
  const fresh = "public, max-age=60";
  assert.equal(reason(200, { "cache-control": "private, max-age=60" }), "private");
  assert.equal(reason(200, { "cache-control": "no-store" }), "no-store");
  assert.equal(reason(200, { "cache-control": "no-cache, max-age=60" }), "no-cache");
  assert.equal(reason(200, { "cache-control": fresh, "set-cookie": "a=b" }), "set-cookie");
  assert.equal(reason(200, { "cache-control": fresh, vary: "*" }), "vary *");
  assert.equal(reason(500, { "cache-control": fresh }), "status 500");
  assert.equal(reason(206, { "cache-control": fresh }), "status 206");
  assert.equal(reason(404, { "cache-control": fresh }), "stored");
});

test("shardgate's own Set-Cookie lines (appended after the member's) do not make a response private", () => {
  const fresh = "public, max-age=60";
  const own = (cookies: string | string[], n: number) => {
    const s = storable(
      200,
      {},
      { "cache-control": fresh, "set-cookie": cookies } as Record<string, string>,
      NOW,
      n,
    );
    return isStorable(s) ? "stored" : s.reason;
  };
  assert.equal(own(["sg_key=1"], 1), "stored");
  assert.equal(own(["sg_key=1", "sg_aff=2"], 2), "stored");
  assert.equal(own(["session=m", "sg_key=1"], 1), "set-cookie");
  assert.equal(own("session=m", 0), "set-cookie");
});

test("Authorization: stored only with public, s-maxage or must-revalidate", () => {
  const auth = { authorization: "Bearer x" };
  assert.equal(isStorable(storable(200, auth, { "cache-control": "max-age=60" }, NOW)), false);
  for (const cc of ["public, max-age=60", "s-maxage=60", "must-revalidate, max-age=60"]) {
    const s = storable(200, auth, { "cache-control": cc }, NOW);
    assert.ok(isStorable(s) && s.authOk, cc);
  }
});

test("Vary names are normalized and sorted", () => {
  const s = storable(
    200,
    {},
    { "cache-control": "max-age=1", vary: "Accept-Language, accept-encoding" },
    NOW,
  );
  assert.ok(isStorable(s));
  assert.deepEqual(s.vary, ["accept-encoding", "accept-language"]);
});
