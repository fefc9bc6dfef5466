// redis.url values ioredis cannot connect by. `validate` only matched `redis://` and no
// whitespace, so `redis://127.0.0.1:99999`, `redis://[::1` and a password with a stray `%` were
// "ok", a SIGHUP took them (a redis change waits for a restart), and the next `start` died in
// ioredis with a bare `TypeError: Invalid URL` / `URIError: URI malformed` stack trace that named
// no field; `redis://host:6379/cache` started and sent `SELECT cache` on every connect. Now
// each is a config error naming redis.url, the password never shown. ioredis also takes the
// query's items as options: `?db=cache` and `?port=99999` got past that check, and an error
// about a URL with `?password=` showed the password. Real `shardgate validate`
// and `start` processes; no Redis is needed (the URL is refused before any connect).

import assert from "node:assert/strict";
import { test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { TempConfig } from "../support/shardgate-process.js";

const PASSWORD = "s3cret-redis-pass";

const withRedis = (url: string) => `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
redis: { url: "${url}" }
pools:
  p:
    members:
      - { id: m1, address: 127.0.0.1:9 }
routes:
  - pool: p
    key: [header:x-k]
    rateLimit: { limit: 10 }
`;

const refused: ReadonlyArray<[string, string]> = [
  ["redis://127.0.0.1:99999", "this is no URL"],
  [`redis://u:${PASSWORD}@127.0.0.1:notaport`, "this is no URL"],
  ["redis://[::1", "this is no URL"],
  [`redis://:${PASSWORD}%zz@127.0.0.1:6379`, 'the user or password has a "%" that starts no escape'],
  ["redis://127.0.0.1:6379/cache", "the db after the host is a number"],
  ["redis://127.0.0.1:0", "the port is 1-65535"],
  // Query items ioredis takes as options; the password there is not shown either.
  [`redis://127.0.0.1:6379?password=${PASSWORD}&db=cache`, "the db in ?db= is a number"],
  [`redis://127.0.0.1?port=99999&password=${PASSWORD}`, "the port in ?port= is 1-65535"],
  [`redis://127.0.0.1:0?password=${PASSWORD}`, "the port is 1-65535"],
  // A password with an unescaped "/" or "@" (as generated ones have): not shown, and the fix named.
  [`redis://:ab/${PASSWORD}@127.0.0.1:6379`, '"/", "?", "#" or "@" in the password is written %2F'],
  [`redis://:ab@${PASSWORD}@127.0.0.1:0`, "the port is 1-65535"],
];

for (const [url, why] of refused) {
  for (const cmd of ["validate", "start"]) {
    test(`${cmd} with redis.url ${url}: exit 1 naming redis.url (${why})`, async (t) => {
      const config = new TempConfig(withRedis(url));
      t.after(() => config.remove());
      const r = await runShardgate([cmd, "--config", config.path], {}, 15_000);
      const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 1, what);
      assert.match(r.stderr, /:2:\d+: redis\.url: expected a URL like redis:\/\/127\.0\.0\.1:6379/, what);
      assert.ok(r.stderr.includes(why), what);
      assert.doesNotMatch(r.stderr, /TypeError|URIError|\n\s+at /, `no stack trace: ${what}`);
      assert.ok(!r.stderr.includes(PASSWORD), `the password is not shown: ${what}`);
      assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
    });
  }
}

test("redis.url spellings ioredis takes still validate", async (t) => {
  for (const url of [
    "redis://127.0.0.1:6379",
    "redis://127.0.0.1:6379/",
    "redis://127.0.0.1:6379/5",
    "redis://[::1]:6379",
    `rediss://user:${PASSWORD}@redis.example:6380/0`,
    "redis://:p%25ss@127.0.0.1",
    "redis://127.0.0.1?db=3&port=6380&family=6",
  ]) {
    const config = new TempConfig(withRedis(url));
    t.after(() => config.remove());
    const r = await runShardgate(["validate", "--config", config.path]);
    assert.equal(r.code, 0, `${url}: ${r.stderr}`);
  }
});
