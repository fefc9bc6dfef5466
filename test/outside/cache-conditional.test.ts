// A client's conditional request against a fresh shared-cache entry, tried from the outside: a
// real shardgate process, a real redis-server and a real member on 127.0.0.1 that answers with
// an ETag and a Last-Modified. A browser revalidating what it holds (If-None-Match with the
// ETag it was given, or If-Modified-Since) was sent the whole stored body again with a 200,
// while the README said conditional requests went upstream. RFC 9111 4.3.2 has a cache evaluate
// the request's preconditions against its stored response, as Varnish and nginx do: now a
// validator that still names the entry gets 304 with no body, one that does not gets the entry.

import assert from "node:assert/strict";
import { test } from "node:test";
import { cachedRoute, cacheRulesGatePerFile } from "../support/cache-rules-gate.js";
import { MEMBER_ETAG, MEMBER_LAST_MODIFIED } from "../support/cache-rules-member.js";
import { textRequest } from "../support/text-request.js";
import { eventually } from "../support/wait.js";

const gate = cacheRulesGatePerFile("cond:", cachedRoute("{ pathPrefix: /static }"));

interface Answer {
  status: number;
  cache: string;
  etag: string;
  body: string;
}

async function ask(path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  const a = await textRequest(gate.port, { path, method, headers });
  return {
    status: a.status,
    cache: String(a.headers["x-cache"]),
    etag: String(a.headers.etag),
    body: a.body,
  };
}

/** GETs `path` until it is answered from the cache (the entry is written after the miss is answered). */
async function cached(path: string): Promise<Answer> {
  assert.equal((await ask(path)).cache, "MISS");
  return eventually(`${path} answered from the cache`, async () => {
    const a = await ask(path);
    return a.cache === "HIT" ? a : undefined;
  });
}

const LATER = "Tue, 08 Dec 2026 00:00:00 GMT";
const EARLIER = "Sun, 06 Dec 2026 00:00:00 GMT";

test("a validator that still names the stored answer gets 304 from the cache, without a body", async () => {
  const path = "/static/cond/matching";
  const stored = await cached(path);
  assert.equal(stored.status, 200);
  const cases: Array<[string, Record<string, string>, string?]> = [
    ["If-None-Match, the ETag", { "if-none-match": MEMBER_ETAG }],
    ["If-None-Match, weak", { "if-none-match": `"other", W/${MEMBER_ETAG}` }],
    ["If-None-Match: *", { "if-none-match": "*" }],
    ["If-Modified-Since, Last-Modified", { "if-modified-since": MEMBER_LAST_MODIFIED }],
    ["If-Modified-Since, later", { "if-modified-since": LATER }],
    // The obsolete forms of an HTTP-date a recipient still reads (RFC 9110 5.6.7).
    ["If-Modified-Since, RFC 850 form", { "if-modified-since": "Tuesday, 08-Dec-26 00:00:00 GMT" }],
    ["If-Modified-Since, asctime form", { "if-modified-since": "Tue Dec  8 00:00:00 2026" }],
    ["HEAD, If-None-Match", { "if-none-match": MEMBER_ETAG }, "HEAD"],
  ];
  for (const [name, headers, method] of cases) {
    const a = await ask(path, headers, method);
    // The old code: 200 and the whole stored body.
    assert.equal(a.status, 304, `${name}: ${a.status} ${a.body}`);
    assert.equal(a.body, "", name);
    assert.equal(a.cache, "HIT", name);
    assert.equal(a.etag, MEMBER_ETAG, `${name}: the 304 names the stored validator`);
  }
  assert.equal(gate.member.count(path), 1, `the member was asked once:\n${gate.member.asked.join("\n")}`);
});

test("a validator that does not name the stored answer gets the stored answer whole", async () => {
  const path = "/static/cond/other";
  const stored = await cached(path);
  const cases: Array<[string, Record<string, string>]> = [
    ["If-None-Match, another ETag", { "if-none-match": '"v0"' }],
    // If-None-Match decides when both are sent (RFC 9110 13.2.2).
    [
      "If-None-Match another, If-Modified-Since later",
      { "if-none-match": '"v0"', "if-modified-since": LATER },
    ],
    ["If-Modified-Since, earlier", { "if-modified-since": EARLIER }],
    ["If-Modified-Since, not a date", { "if-modified-since": "yesterday" }],
    // Text Date.parse reads as a year, but no HTTP-date: ignored (RFC 9110 13.1.3). The old
    // code answered these 304 (2030 and 2001 are after the Last-Modified).
    ["If-Modified-Since, a year", { "if-modified-since": "2030" }],
    ["If-Modified-Since, words and a year", { "if-modified-since": "yesterday 2030" }],
    ["If-Modified-Since, a number", { "if-modified-since": "1" }],
    ["If-Modified-Since, a date without its time", { "if-modified-since": "Tue, 08 Dec 2026" }],
  ];
  for (const [name, headers] of cases) {
    const a = await ask(path, headers);
    assert.equal(a.status, 200, `${name}: ${a.status}`);
    assert.equal(a.cache, "HIT", name);
    assert.equal(a.body, stored.body, name);
  }
  assert.equal(gate.member.count(path), 1, `the member was asked once:\n${gate.member.asked.join("\n")}`);
});

test("a conditional request that misses goes to the member, whose 304 is passed on and not stored", async () => {
  const path = "/static/cond/first";
  const a = await ask(path, { "if-none-match": MEMBER_ETAG });
  assert.equal(a.status, 304);
  assert.equal(a.cache, "MISS");
  const b = await ask(path);
  assert.equal(b.status, 200);
  assert.equal(b.cache, "MISS", "the member's 304 was not stored as the entry");
  assert.equal(gate.member.count(path), 2);
});

test("If-Match and If-Unmodified-Since go to the member, which answers 412 or the current answer", async () => {
  const path = "/static/cond/preconditions";
  const stored = await cached(path);
  const cases: Array<[string, Record<string, string>, number]> = [
    // The old code: 200 HIT, the stored body, to a client whose precondition fails at the member.
    ["If-Match, another ETag", { "if-match": '"v0"' }, 412],
    ["If-Match, weak (never a strong match)", { "if-match": `W/${MEMBER_ETAG}` }, 412],
    ["If-Unmodified-Since, earlier", { "if-unmodified-since": EARLIER }, 412],
    ["If-Match, the ETag", { "if-match": MEMBER_ETAG }, 200],
    ["If-Match: *", { "if-match": "*" }, 200],
    ["If-Unmodified-Since, later", { "if-unmodified-since": LATER }, 200],
  ];
  let asked = gate.member.count(path);
  for (const [name, headers, status] of cases) {
    const a = await ask(path, headers);
    assert.equal(a.status, status, `${name}: ${a.status} ${a.cache} ${a.body}`);
    assert.equal(a.cache, "MISS", name);
    asked++;
    assert.equal(gate.member.count(path), asked, `${name}: the member was asked`);
  }
  // The member's 412s were not stored: a plain request still gets a 200.
  const after = await eventually(`${path} answered from the cache again`, async () => {
    const a = await ask(path);
    return a.cache === "HIT" ? a : undefined;
  });
  assert.equal(after.status, 200);
  assert.notEqual(after.body, "");
  assert.match(stored.body, /^GET /);
});
