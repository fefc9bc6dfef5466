// The wall clock steps back while the shared HTTP cache holds an entry (tried from the outside
// on a real shardgate process under libfaketime, with a real redis-server). Cache ages are wall
// time (RFC 9111; the entries are shared by every instance through Redis, so no process's
// monotonic clock will do). Found on the old code: after a -1h step the entry's resident time
// clamped at 0, so it was served on as a HIT with its Age back at 0: a downstream cache then
// keeps it for a whole lifetime more, and on a machine whose Redis steps too (Redis stores
// absolute expiry times) it is served for the hour. Now an entry stamped in this instance's
// future is not fresh: the upstream is asked again, once. Age is never negative.
//
// redis-server runs on the real clock: libfaketime 0.9.10 cannot start it (jemalloc's first
// clock_gettime() recurses into libfaketime's initialisation and redis-server dies).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { currentAge, type EntryHead, FUTURE_STAMP_MS, isFresh } from "../../proxy/cache/cache-entry.js";
import { CacheUpstream } from "../edge/cache-upstream.js";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const missing = clockStepMissing();
/** CacheUpstream's /static/public/* answers carry max-age=60. */
const LIFETIME_S = 60;

let clock: ClockStep;
let redis: RedisServer;
let up: CacheUpstream;
let sg: RunningShardgate;

before(async () => {
  if (missing !== undefined) return;
  clock = new ClockStep();
  redis = await startRedis();
  up = await new CacheUpstream().start();
  sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
redis: { url: ${redis.url}, keyPrefix: "clock:" }
pools:
  users:
    members: [{ id: origin, address: "127.0.0.1:${up.port}" }]
routes:
  - match: { pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: 1mb }
`,
    { env: clock.env },
  );
});

after(async () => {
  await stopAll();
  await stopAllRedis();
  await up?.close();
  clock?.remove();
});

interface Answer {
  cache: string;
  age: number | undefined;
  body: string;
}

/** GET `path`; checks that an Age header, when sent, is a whole number in [0, LIFETIME_S]. */
async function get(path: string): Promise<Answer> {
  const r = await fetch(`${sg.httpUrl}${path}`);
  const body = await r.text();
  assert.equal(r.status, 200, body);
  const raw = r.headers.get("age");
  if (raw !== null) {
    assert.match(raw, /^\d+$/, `Age ${raw} on ${path}`);
    assert.ok(Number(raw) <= LIFETIME_S, `Age ${raw} on ${path} is past the entry's lifetime`);
  }
  return { cache: r.headers.get("x-cache") ?? "", age: raw === null ? undefined : Number(raw), body };
}

test("a cached entry is not served with its age set back after the clock steps back an hour", {
  skip: missing,
  timeout: 300_000,
}, async () => {
  const path = "/static/public/stepped";
  clock.step("+0");
  assert.equal((await get(path)).cache, "MISS");
  // Served from the cache and aged a few seconds (the fill answers before its background write
  // to Redis lands: a HIT says it is stored).
  const held = await eventually(`${path} served from the cache with Age >= 3`, async () => {
    const a = await get(path);
    return a.cache === "HIT" && (a.age ?? 0) >= 3 ? a : undefined;
  });
  assert.equal(up.count(path), 1);
  clock.step("-1h");
  try {
    const a = await get(path);
    // The old code: HIT, Age 0.
    assert.ok(
      a.cache !== "HIT" || (a.age ?? 0) >= (held.age ?? 0),
      `after a -1h step the entry was served with Age ${a.age}, down from ${held.age}`,
    );
    assert.equal(up.count(path), 2, "the upstream was asked again");
    assert.match(a.body, /#2$/);
    // The refetched entry is cached again and ages from the stepped clock.
    const again = await eventually(`${path} cached again`, async () => {
      const b = await get(path);
      return b.cache === "HIT" ? b : undefined;
    });
    assert.match(again.body, /#2$/, "the refetched answer is the one cached");
  } finally {
    clock.step("+0");
  }
});

test("an entry another instance stamped a little ahead (clock skew) is still fresh; one an hour ahead is not", () => {
  const now = 1_800_000_000_000;
  const head = (storedAt: number): EntryHead => ({
    status: 200,
    headers: {},
    storedAt,
    age: 5,
    lifetime: LIFETIME_S,
    vary: [],
    authOk: true,
  });
  const skewed = head(now + FUTURE_STAMP_MS / 2);
  assert.equal(isFresh(skewed, now), true);
  assert.equal(currentAge(skewed, now), 5, "Age never goes below the one the entry came with");
  assert.equal(isFresh(head(now + 3_600_000), now), false);
  assert.equal(isFresh(head(now - (LIFETIME_S - 5) * 1000), now), false, "past its lifetime");
  assert.equal(isFresh(head(now - (LIFETIME_S - 6) * 1000), now), true);
});
