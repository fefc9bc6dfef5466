// shardgate's per-client cookies and the shared cache, tried from the outside: a real shardgate
// process, a real redis-server and a real member on 127.0.0.1. shardgate's own Set-Cookie (the
// sticky id of `onMissingKey: cookie`) no longer keeps an answer from being stored, and a hit
// hands out an id of its own; two cases the other cache tests leave open are tried here:
// - requests coalesced behind one fill are answered from the leader's entry: each must get the
//   id it was routed by, never the leader's (one client's id given to another pins both to one
//   member and mixes their sessions);
// - the rule that lets shardgate's own cookie through counts lines, not names: a member's own
//   Set-Cookie, even one named like the sticky cookie, still keeps its answer out of the cache.

import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { startRedis, stopAllRedis } from "../support/redis-server.js";
import { metricValue, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { startedInHook } from "../support/started-in-hook.js";
import { type TextAnswer, textRequest } from "../support/text-request.js";
import { eventually } from "../support/wait.js";

/** Clients sent at once for one URL nobody has stored yet: one leads the fill, the rest wait. */
const CLIENTS = 6;

let member: Server | undefined;
let running: RunningShardgate | undefined;
/** Every target the member was sent. */
const asked: string[] = [];
/** Answers to /c/held/ targets, held until the test lets them go. */
const held: Array<() => void> = [];

function sg(): RunningShardgate {
  return startedInHook(running, "shardgate");
}

function answer(res: ServerResponse, url: string): void {
  res.setHeader("cache-control", "max-age=60");
  // A member's own cookie, named like shardgate's sticky one.
  if (url.startsWith("/c/own/")) res.setHeader("set-cookie", "sg_key=member-chosen; Path=/");
  res.end(`${url} #${asked.length}`);
}

before(async () => {
  const redis = await startRedis();
  member = createServer((req, res) => {
    const url = req.url ?? "";
    asked.push(url);
    if (url.startsWith("/c/held/")) held.push(() => answer(res, url));
    else answer(res, url);
  });
  const m = member;
  await new Promise<void>((r) => m.listen(0, "127.0.0.1", r));
  running = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
redis: { url: ${redis.url}, keyPrefix: "pcc:" }
pools:
  users:
    members: [{ id: origin, address: "127.0.0.1:${(m.address() as AddressInfo).port}" }]
routes:
  - match: { pathPrefix: /c }
    pool: users
    key: [header:x-user, cookie:sg_key]
    onMissingKey: cookie
    cache: { store: redis, maxBytes: 64kb }
`);
});

after(async () => {
  for (const release of held.splice(0)) release();
  await stopAll();
  await stopAllRedis();
  member?.closeAllConnections();
  await new Promise<void>((r) => (member === undefined ? r() : member.close(() => r())));
});

function ask(path: string, headers: Record<string, string> = {}): Promise<TextAnswer> {
  return textRequest(Number(new URL(sg().httpUrl).port), { path, headers });
}

/** The `name=value` pairs of an answer's Set-Cookie lines. */
function cookies(a: TextAnswer): string[] {
  return (a.headers["set-cookie"] ?? []).map((c) => c.slice(0, c.indexOf(";")));
}

async function cacheCount(result: string): Promise<number> {
  const text = await (await fetch(`${sg().adminUrl}/metrics`)).text();
  return metricValue(text, "shardgate_cache_requests_total", { route: "*/c", result }) ?? 0;
}

test("clients coalesced behind one fill each get the sticky id they were routed by", async () => {
  const path = "/c/held/page";
  const missesBefore = await cacheCount("miss");
  const storedBefore = await cacheCount("stored");
  const answers = Promise.all(Array.from({ length: CLIENTS }, () => ask(path)));
  // Every request has missed (a miss is counted just before it leads or waits on the fill) and
  // the leader reached the member, which holds its answer until then.
  await eventually(`${CLIENTS} misses for ${path} and the leader at the member`, async () =>
    (await cacheCount("miss")) - missesBefore >= CLIENTS && held.length > 0 ? true : undefined,
  );
  assert.equal(held.length, 1, `the member was sent one request: ${asked.join(", ")}`);
  for (const release of held.splice(0)) release();
  const got = await answers;
  const ids = got.map(cookies);
  for (const a of got) assert.equal(a.status, 200);
  assert.equal(got.filter((a) => a.headers["x-cache"] === "HIT").length, CLIENTS - 1, "the waiters");
  for (const list of ids) assert.equal(list.length, 1, `one sticky cookie each: ${JSON.stringify(ids)}`);
  assert.equal(new Set(ids.map((l) => l[0])).size, CLIENTS, `an id of its own each: ${JSON.stringify(ids)}`);
  assert.equal(new Set(got.map((a) => a.body)).size, 1, "one answer, the member's");
  // Written to Redis after the waiters were answered: counted before the next test looks.
  await eventually(`${path} stored`, async () =>
    (await cacheCount("stored")) > storedBefore ? true : undefined,
  );
});

test("a member's own Set-Cookie, named like the sticky cookie, keeps its answer out of the cache", async () => {
  // Without a key (shardgate appends its id after the member's cookie) and with one (it appends none).
  for (const [path, headers] of [
    ["/c/own/keyless", {}],
    ["/c/own/keyed", { "x-user": "u1" }],
  ] as const) {
    const storedBefore = await cacheCount("stored");
    const notStoredBefore = await cacheCount("not_storable");
    const first = await ask(path, headers);
    assert.equal(first.headers["x-cache"], "MISS", path);
    assert.ok(cookies(first).includes("sg_key=member-chosen"), `${path}: ${JSON.stringify(first.headers)}`);
    // The answer was judged (counted) before the client read it; nothing was stored.
    await eventually(`${path} judged not storable`, async () =>
      (await cacheCount("not_storable")) > notStoredBefore ? true : undefined,
    );
    assert.equal(await cacheCount("stored"), storedBefore, `${path} was stored`);
    const second = await ask(path, headers);
    assert.equal(second.headers["x-cache"], "MISS", `${path} was served from the cache: ${second.body}`);
    assert.equal(asked.filter((u) => u === path).length, 2, path);
  }
});
