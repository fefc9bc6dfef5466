// A shared-cache hit and the sticky cookie of `onMissingKey: cookie`, tried from the outside: a real
// shardgate process, a real redis-server and three real members on 127.0.0.1. A client that sends
// no key is given an id in a cookie (`sg_key`), and the ring routes it by that id from then on. A
// miss's answer carried the cookie, a hit's did not: a new client whose first request was a hit
// had no id, so each of its next requests the cache did not answer went to a random member and the
// hits kept handing out nothing. Now a hit carries the same cookie a miss does, and the client's
// next requests all go to the member the ring picks for the id (as GET /admin/route names it).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CacheRulesMember } from "../support/cache-rules-member.js";
import { startRedis, stopAllRedis } from "../support/redis-server.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { startedInHook } from "../support/started-in-hook.js";
import { type TextAnswer, textRequest } from "../support/text-request.js";
import { eventually } from "../support/wait.js";

const MEMBERS = 3;
/** Uncached requests sent with the issued cookie: all must reach one member. */
const FOLLOW_UPS = 9;

const members: CacheRulesMember[] = [];
let running: RunningShardgate | undefined;

function sg(): RunningShardgate {
  return startedInHook(running, "shardgate");
}

before(async () => {
  const redis = await startRedis();
  for (let i = 0; i < MEMBERS; i++) members.push(await new CacheRulesMember().start());
  const list = members.map((m, i) => `{ id: m${i}, address: "127.0.0.1:${m.port}" }`).join(", ");
  running = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
redis: { url: ${redis.url}, keyPrefix: "stk:" }
pools:
  users:
    members: [${list}]
routes:
  - match: { pathPrefix: /static }
    pool: users
    key: [header:x-user, cookie:sg_key]
    onMissingKey: cookie
    cache: { store: redis, maxBytes: 64kb }
  - match: { pathPrefix: /aff }
    pool: users
    key: [header:x-user]
    affinity: { cookie: { name: sg_aff } }
    cache: { store: redis, maxBytes: 64kb }
`);
});

after(async () => {
  await stopAll();
  await stopAllRedis();
  for (const m of members) await m.close();
});

function ask(path: string, headers: Record<string, string> = {}): Promise<TextAnswer> {
  return textRequest(Number(new URL(sg().httpUrl).port), { path, headers });
}

/** The sticky cookie an answer sets ("" when none): its `name=value` and its attributes. */
function sticky(a: TextAnswer): { pair: string; attributes: string } {
  const line = (a.headers["set-cookie"] ?? []).find((c) => c.startsWith("sg_key="));
  if (line === undefined) return { pair: "", attributes: "" };
  const semi = line.indexOf(";");
  return { pair: line.slice(0, semi), attributes: line.slice(semi) };
}

/** How many requests for `path` each member was sent. */
function counts(path: string): number[] {
  return members.map((m) => m.count(path));
}

test("a hit gives a client without a key the sticky cookie a miss gives, and the cookie pins its next requests", async () => {
  const path = "/static/sticky/page";
  // A client with a key plants the entry (its answer carries no cookie: it has a key).
  const planted = await ask(path, { "x-user": "u1" });
  assert.equal(planted.headers["x-cache"], "MISS");
  assert.equal(sticky(planted).pair, "");
  await eventually(`${path} answered from the cache`, async () =>
    (await ask(path, { "x-user": "u1" })).headers["x-cache"] === "HIT" ? true : undefined,
  );
  // What a miss gives a client without a key, for comparison.
  const miss = await ask("/static/sticky/other");
  assert.equal(miss.headers["x-cache"], "MISS");
  const missCookie = sticky(miss);
  assert.notEqual(missCookie.pair, "", "a miss sets the sticky cookie");

  const hit = await ask(path);
  assert.equal(hit.headers["x-cache"], "HIT");
  const cookie = sticky(hit);
  // The old code: no Set-Cookie on a hit.
  assert.notEqual(cookie.pair, "", `a hit set no sticky cookie: ${JSON.stringify(hit.headers)}`);
  assert.equal(cookie.attributes, missCookie.attributes, "the same cookie as a miss's");
  assert.notEqual(cookie.pair, missCookie.pair, "an id of its own");

  // The ring's member for that id, as the admin API explains it.
  const id = cookie.pair.slice("sg_key=".length);
  const route = await fetchJson(
    `${sg().adminUrl}/admin/route?pool=users&key=${encodeURIComponent(id)}&source=cookie:sg_key`,
  );
  assert.equal(route.status, 200, route.text);
  const owner = Number(String((route.body as { member: string }).member).slice(1));
  assert.ok(owner >= 0 && owner < MEMBERS, route.text);

  // The client's next requests the cache does not answer (no-store) all reach that member.
  const next = "/static/sticky/uncached";
  for (let i = 0; i < FOLLOW_UPS; i++) {
    const a = await ask(next, { cookie: cookie.pair, "cache-control": "no-store" });
    assert.equal(a.status, 200);
    assert.equal(sticky(a).pair, "", "a client with an id is given none");
  }
  const expected = members.map((_, i) => (i === owner ? FOLLOW_UPS : 0));
  assert.deepEqual(counts(next), expected, `each member's requests for ${next}`);
});

test("a HEAD hit and a conditional 304 hit carry the cookie too", async () => {
  const path = "/static/sticky/head";
  await ask(path, { "x-user": "u2" });
  await eventually(`${path} answered from the cache`, async () =>
    (await ask(path, { "x-user": "u2" })).headers["x-cache"] === "HIT" ? true : undefined,
  );
  const head = await textRequest(Number(new URL(sg().httpUrl).port), { path, method: "HEAD" });
  assert.equal(head.headers["x-cache"], "HIT");
  assert.notEqual(sticky(head).pair, "", "HEAD hit");
  const notModified = await ask(path, { "if-none-match": '"v1"' });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers["x-cache"], "HIT");
  assert.notEqual(sticky(notModified).pair, "", "304 hit");
});

test("a miss for a client without a key is stored: the cookie shardgate gives it is no member's Set-Cookie", async () => {
  const path = "/static/sticky/first-visit";
  const first = await ask(path);
  assert.equal(first.headers["x-cache"], "MISS");
  assert.notEqual(sticky(first).pair, "", "the miss sets the sticky cookie");
  // The old code: never stored (the response carried a Set-Cookie, shardgate's own), so every
  // client was sent to a member until one with a key asked.
  const later = await eventually(`${path} answered from the cache`, async () => {
    const a = await ask(path, { "x-user": "u3" });
    return a.headers["x-cache"] === "HIT" ? a : undefined;
  });
  assert.equal(later.body, first.body);
  assert.equal(sticky(later).pair, "", "a client with a key is given no cookie, and the entry holds none");
  assert.equal(
    counts(path).reduce((a, b) => a + b, 0),
    1,
    "one request reached a member",
  );
});

test("a miss that gets an affinity cookie is stored: that cookie is shardgate's, not the member's", async () => {
  const path = "/aff/sticky/page";
  const first = await ask(path, { "x-user": "u4" });
  assert.equal(first.headers["x-cache"], "MISS");
  const aff = (first.headers["set-cookie"] ?? []).find((c) => c.startsWith("sg_aff="));
  assert.ok(aff !== undefined, `the miss sets the affinity cookie: ${JSON.stringify(first.headers)}`);
  // The old code: never stored, whoever asked without an affinity cookie yet.
  const later = await eventually(`${path} answered from the cache`, async () => {
    const a = await ask(path, { "x-user": "u5" });
    return a.headers["x-cache"] === "HIT" ? a : undefined;
  });
  assert.equal(later.body, first.body);
  assert.equal(later.headers["set-cookie"], undefined, "the entry holds no cookie");
  assert.equal(
    counts(path).reduce((a, b) => a + b, 0),
    1,
    "one request reached a member",
  );
});
