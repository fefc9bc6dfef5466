// redis.url forms ioredis (the installed 6.0.0) reads that `validate` and `start` refused: the
// scheme in upper or mixed case, and a unix socket written as a bare absolute path, as
// `unix:///path` or `redis+unix:///path` (ioredis parses both as a host named by the scheme with
// the URL's path as the socket path), each with `?db=`. Each now starts and is served by a real
// redis-server listening on a unix socket in a temp dir (or on a loopback port for `REDIS://`):
// a rate limit of 1 answers the second request 429, which only a reachable Redis can do
// (onStoreError: closed answers 503 without it), in the db the URL names.
// Forms ioredis reads as something else than they say are refused naming redis.url:
// `REDISS://` (ioredis turns TLS on only for a lower-case `rediss://`: plain text), a socket
// URL whose path the URL parser changes (a space becomes %20, a "#" ends it), one with a "%"
// (ioredis connects to a file named with the "%20" itself), a repeated `?db=` whose last value is
// no number (ioredis keeps the last), `unix://run/...` (a host "run" in URL terms),
// `redis:///path` (no host: the path would be taken as a db), a socket path longer than Linux
// connects to.
// `rediss://` is checked to mean TLS through shardgate's own connector: a TLS terminator (a
// test CA's certificate, trusted through NODE_EXTRA_CA_CERTS) in front of the real redis-server.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createServer as createTlsServer } from "node:tls";
import { Redis } from "ioredis";
import { runShardgate } from "../support/ctl-runner.js";
import { startRedis, startRedisOnSocket } from "../support/redis-server.js";
import { redisUrlFixture } from "../support/redis-url-fixture.js";
import { startShardgate, TempConfig } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";

const withRedis = redisUrlFixture();

/** Keys in `db` of the Redis at `where` (a socket path or a port). */
async function keysIn(where: string | number, db: number): Promise<number> {
  const c =
    typeof where === "string"
      ? new Redis({ path: where, db, lazyConnect: true })
      : new Redis({ host: "127.0.0.1", port: where, db, lazyConnect: true });
  try {
    await c.connect();
    return await c.dbsize();
  } finally {
    c.disconnect();
  }
}

test("a real redis-server on a unix socket, reached by each socket form, and by an upper-case scheme", {
  timeout: 120_000,
}, async (t) => {
  const onSocket = await startRedisOnSocket();
  const onPort = await startRedis();
  const path = onSocket.socketPath;
  const forms: Array<[string, string | number, number]> = [
    [path, path, 0],
    [`${path}?db=2`, path, 2],
    [`unix://${path}`, path, 0],
    [`unix://${path}?db=3`, path, 3],
    [`redis+unix://${path}?db=4`, path, 4],
    [`unix:${path}?db=5`, path, 5],
    [`REDIS://127.0.0.1:${onPort.port}/6`, onPort.port, 6],
    [`Redis://127.0.0.1:${onPort.port}?db=7`, onPort.port, 7],
  ];
  for (const [i, [url, where, db]] of forms.entries()) {
    await t.test(url, async () => {
      const before = await keysIn(where, db);
      const sg = await startShardgate(withRedis(url));
      try {
        await sg.proc.waitForLine("redis connected", (l) => l.msg === "redis connected");
        const ask = () => fetch(`${sg.httpUrl}/x`, { headers: { "x-k": `key-${i}` } });
        const first = await ask();
        const firstBody = await first.text();
        assert.equal(first.status, 200, `${url}: ${firstBody}\n${sg.proc.output()}`);
        const second = await ask();
        const body = await second.text();
        assert.equal(second.status, 429, `${url}: the limit is kept in Redis: ${body}\n${sg.proc.output()}`);
        assert.ok((await keysIn(where, db)) > before, `${url}: the bucket is in db ${db}`);
      } finally {
        await sg.stop();
      }
    });
  }
});

test("rediss:// reaches Redis over TLS", { timeout: 60_000 }, async (t) => {
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), "shardgate-rediss-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "redis", "127.0.0.1", "IP:127.0.0.1");
  let handshakes = 0;
  const terminator = createTlsServer(
    { key: readFileSync(join(dir, "redis.key")), cert: readFileSync(join(dir, "redis.pem")) },
    (tls) => {
      handshakes++;
      const plain = connect(redis.port, "127.0.0.1");
      tls.pipe(plain).pipe(tls);
      tls.on("error", () => plain.destroy());
      plain.on("error", () => tls.destroy());
    },
  );
  await new Promise<void>((r) => terminator.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => terminator.close(r)));
  const tlsPort = (terminator.address() as AddressInfo).port;
  const sg = await startShardgate(withRedis(`rediss://127.0.0.1:${tlsPort}`), {
    env: { NODE_EXTRA_CA_CERTS: join(dir, "ca.pem") },
  });
  try {
    await sg.proc.waitForLine("redis connected", (l) => l.msg === "redis connected");
    const ask = () => fetch(`${sg.httpUrl}/x`, { headers: { "x-k": "tls" } });
    const first = await ask();
    assert.equal(first.status, 200, `${await first.text()}\n${sg.proc.output()}`);
    const second = await ask();
    assert.equal(second.status, 429, `${await second.text()}\n${sg.proc.output()}`);
    assert.ok(handshakes >= 1, "shardgate's Redis connection came over TLS");
  } finally {
    await sg.stop();
  }
});

const refused: ReadonlyArray<[string, string]> = [
  ["REDISS://127.0.0.1:6380", "ioredis turns TLS on only for a lower-case rediss://"],
  ["Rediss://127.0.0.1:6380", "ioredis turns TLS on only for a lower-case rediss://"],
  ["unix://run/redis.sock", "the socket path is absolute, after three slashes"],
  ["unix:///tmp/a b/redis.sock", "ioredis would read another socket path"],
  ["unix:///tmp/a#b.sock", "ioredis would read another socket path"],
  ["unix:///tmp/a%20b/redis.sock", 'ioredis takes a "%" in a socket URL as written'],
  ["/run/redis.sock?db=2&db=cache", "the db in ?db= is a number"],
  ["redis://127.0.0.1:6379?db=1&db=cache", "the db in ?db= is a number"],
  ["redis:///run/redis.sock", "a unix socket is written /run/redis.sock"],
  [`/tmp/${"s".repeat(110)}.sock`, "a unix socket path is at most 107 bytes"],
  ["/run/redis.sock?db=cache", "the db in ?db= is a number"],
  ["unix:///", "the socket path names no file"],
];

for (const [url, why] of refused) {
  for (const cmd of ["validate", "start"]) {
    test(`${cmd} with redis.url ${url}: exit 1 naming redis.url (${why})`, async (t) => {
      const config = new TempConfig(withRedis(url));
      t.after(() => config.remove());
      const r = await runShardgate([cmd, "--config", config.path], {}, 15_000);
      const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 1, what);
      assert.match(r.stderr, /redis\.url: expected a URL like redis:\/\/127\.0\.0\.1:6379/, what);
      assert.ok(r.stderr.includes(why), what);
      assert.doesNotMatch(r.stderr, /TypeError|URIError|\n\s+at /, `no stack trace: ${what}`);
      assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
    });
  }
}

test("socket forms with a space in the bare path validate (ioredis takes that path verbatim)", async (t) => {
  for (const url of ["/tmp/a b/redis.sock", "/run/redis.sock?db=1&password=x", "UNIX:///run/redis.sock"]) {
    const config = new TempConfig(withRedis(url));
    t.after(() => config.remove());
    const r = await runShardgate(["validate", "--config", config.path]);
    assert.equal(r.code, 0, `${url}: ${r.stderr}`);
  }
});
