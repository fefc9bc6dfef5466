// redis.url query items. ioredis (node_modules/ioredis/built/utils/index.js parseURL) takes every
// query item as the client option of that name wherever the URL leaves that option out, so
// `redis://127.0.0.1?path=/x` connected to the unix socket /x, not to 127.0.0.1, and
// `redis://127.0.0.1?tls=1` (or tls=0: a string is set) spoke TLS to a plain-text Redis; both
// passed `validate`. Now only the items that say what the URL's own parts say (db, port, username,
// password) and the lookup's address family are read; every other one is refused naming it.
// Real `shardgate validate` for each form; the accepted ones also `start` against a real
// redis-server and keep a rate limit there (the second request answered 429, which only a
// reachable Redis can do with onStoreError: closed), in the db the URL names.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { runShardgate } from "../support/ctl-runner.js";
import { startRedis } from "../support/redis-server.js";
import { redisUrlFixture } from "../support/redis-url-fixture.js";
import { startShardgate, TempConfig } from "../support/shardgate-process.js";

const withRedis = redisUrlFixture();

const refused: ReadonlyArray<[string, string]> = [
  ["redis://127.0.0.1:6379?path=/tmp/other.sock", "?path= makes ioredis connect to the unix socket it names"],
  ["/run/redis.sock?path=/tmp/other.sock", "?path= makes ioredis connect to the unix socket it names"],
  ["redis://127.0.0.1:6379?tls=1", "?tls= turns TLS on for any value"],
  ["redis://127.0.0.1:6379?db=1&tls=0", "?tls= turns TLS on for any value"],
  ["redis://127.0.0.1:6379?tls=RedisCloudFixed", "?tls= turns TLS on for any value"],
  ["rediss://127.0.0.1:6380?tls=1", "with rediss://, ?tls= names one of ioredis's TLS profiles"],
  ["/run/redis.sock?tls=RedisCloudFixed", "?tls= turns TLS on for any value"],
  ["redis://127.0.0.1:6379?host=10.0.0.9", "?host= is ignored by ioredis"],
  [
    "unix:///run/redis.sock?connectTimeout=1",
    '?connectTimeout= is no redis.url item (ioredis would take it as its "connectTimeout" option)',
  ],
  ["redis://127.0.0.1:6379?TLS=1", "?TLS= is no redis.url item"],
  ["redis://127.0.0.1:6379?family=5", "the family in ?family= is 4, 6 or 0"],
];

for (const [url, why] of refused) {
  test(`validate with redis.url ${url}: exit 1 naming redis.url and the item (${why})`, async (t) => {
    const config = new TempConfig(withRedis(url));
    t.after(() => config.remove());
    const r = await runShardgate(["validate", "--config", config.path], {}, 15_000);
    const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.code, 1, what);
    assert.match(r.stderr, /redis\.url: expected a URL like redis:\/\/127\.0\.0\.1:6379/, what);
    assert.ok(r.stderr.includes(why), what);
    assert.doesNotMatch(r.stderr, /TypeError|URIError|\n\s+at /, `no stack trace: ${what}`);
  });
}

// A refused item may be one of ioredis's secrets: the error names it, never shows its value.
for (const url of [
  "redis://127.0.0.1:6379?sentinelPassword=s3cret-value",
  "/run/redis.sock?db=1&pass%77ord=s3cret-value&x=1",
  "redis://127.0.0.1:6379?db=x&natMap=s3cret-value",
]) {
  test(`validate with redis.url ${url}: refused, the value not shown`, async (t) => {
    const config = new TempConfig(withRedis(url));
    t.after(() => config.remove());
    const r = await runShardgate(["validate", "--config", config.path], {}, 15_000);
    const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.code, 1, what);
    assert.match(r.stderr, /redis\.url: expected a URL like/, what);
    assert.ok(!`${r.stdout}${r.stderr}`.includes("s3cret-value"), `the value is masked: ${what}`);
  });
}

// ioredis reads ?tls=<profile> as the CA that profile trusts (node_modules/ioredis/built/constants/TLSProfiles.js):
// on a rediss:// URL that is TLS, as the URL says, and the one way to name Redis Cloud's CA.
for (const url of [
  "rediss://127.0.0.1:6380?tls=RedisCloudFixed",
  "rediss://u:p@127.0.0.1:6380/2?tls=RedisCloudFlexible",
]) {
  test(`validate with redis.url ${url}: accepted`, async (t) => {
    const config = new TempConfig(withRedis(url));
    t.after(() => config.remove());
    const r = await runShardgate(["validate", "--config", config.path], {}, 15_000);
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });
}

test("start with redis.url ...?tls=1: refused before any connect", async (t) => {
  const config = new TempConfig(withRedis("redis://127.0.0.1:6379?tls=1"));
  t.after(() => config.remove());
  const r = await runShardgate(["start", "--config", config.path], {}, 15_000);
  const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 1, what);
  assert.ok(r.stderr.includes("?tls= turns TLS on for any value"), what);
  assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
});

/** Keys in `db` of the Redis on `port`. */
async function keysIn(port: number, db: number): Promise<number> {
  const c = new Redis({ host: "127.0.0.1", port, db, lazyConnect: true });
  try {
    await c.connect();
    return await c.dbsize();
  } finally {
    c.disconnect();
  }
}

test("the accepted query items validate, start and reach a real redis-server", {
  timeout: 120_000,
}, async (t) => {
  const redis = await startRedis();
  const forms: Array<[string, number]> = [
    // The port only in the query, which ioredis reads where the URL has none.
    [`redis://127.0.0.1?port=${redis.port}&db=2`, 2],
    [`redis://127.0.0.1:${redis.port}?family=4&db=3`, 3],
    [`redis://127.0.0.1:${redis.port}/4?family=0`, 4],
  ];
  for (const [i, [url, db]] of forms.entries()) {
    await t.test(url, async (tt) => {
      const config = new TempConfig(withRedis(url));
      tt.after(() => config.remove());
      const v = await runShardgate(["validate", "--config", config.path]);
      assert.equal(v.code, 0, `${url}: ${v.stderr}`);
      const before = await keysIn(redis.port, db);
      const sg = await startShardgate(withRedis(url));
      try {
        await sg.proc.waitForLine("redis connected", (l) => l.msg === "redis connected");
        const ask = () => fetch(`${sg.httpUrl}/x`, { headers: { "x-k": `query-${i}` } });
        const first = await ask();
        assert.equal(first.status, 200, `${url}: ${await first.text()}\n${sg.proc.output()}`);
        const second = await ask();
        assert.equal(second.status, 429, `${url}: the limit is kept in Redis: ${await second.text()}`);
        assert.ok((await keysIn(redis.port, db)) > before, `${url}: the bucket is in db ${db}`);
      } finally {
        await sg.stop();
      }
    });
  }
});
