// `shardgate ctl route` with a key too long for the admin port: Node's parser there refuses a
// request line and head over 16 KiB with shardgate's 414 uri_too_long, which carries the request
// id that marks a proxy port. ctl said "is not a shardgate admin API ... answers as a shardgate
// proxy port does ... check --admin" about the right address, and printed the whole path (every
// byte of the key) in the message. It now says the request was refused as too long, names its
// size, cuts the path, and says what to do. A batch of keys refused as too long (a reverse proxy
// in front of the admin port taking less than ctl's 12 KiB batches) was refused outright; it is
// now asked again in halves. A real shardgate, real `ctl` processes, a real relay; the keys'
// lengths and letters are seeded.

import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(2026_1206);

let ups: EchoUpstream[] = [];
let sg: RunningShardgate;

before(async () => {
  ups = await startUpstreams(2, "tl");
  sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
  );
});
after(async () => {
  await sg?.stop();
  await stopAll();
  await closeAll(ups);
});

/** A key of 17-40 KiB of seeded letters: past the admin port's 16 KiB head on its own. */
function longKey(random: () => number): string {
  const n = 17 * 1024 + Math.floor(random() * 23 * 1024);
  const letters = "abcdefghijklmnopqrstuvwxyz";
  let k = "";
  while (k.length < n) k += letters[Math.floor(random() * letters.length)].repeat(64);
  return k.slice(0, n);
}

function assertTooLong(
  r: { code: number | null; stdout: string; stderr: string },
  key: string,
  what: string,
): void {
  assert.equal(r.code, 1, what);
  assert.equal(r.stdout, "", what);
  assert.ok(
    !/not a shardgate admin API|proxy port does/.test(r.stderr),
    `not taken for a proxy port: ${what}`,
  );
  assert.match(
    r.stderr,
    new RegExp(
      `^shardgate ctl: ${sg.adminUrl.replace(/[.]/g, "\\.")} refused GET /admin/routes?\\?pool=users&key=`,
    ),
    what,
  );
  assert.match(
    r.stderr,
    /\.\.\. \(\d+ more characters\) as too long \(414 uri_too_long\): the request was \d+ bytes; /,
    what,
  );
  assert.ok(!r.stderr.includes(key.slice(0, 1024)), `the key is not printed whole: ${what.slice(0, 300)}`);
  assert.ok(r.stderr.length < 1_000, `one short sentence, got ${r.stderr.length} chars`);
}

test("ctl route with a key too long for the admin port says so, not that it is a proxy port", async () => {
  const random = seededRandom(SEED);
  const key = longKey(random);
  const one = await runCtl(["--admin", sg.adminUrl, "route", "users", key]);
  const what1 = `ctl route users <${key.length}-char key>: exit ${one.code}\nstderr: ${one.stderr.slice(0, 600)}\n${seedNote(SEED)}`;
  assertTooLong(one, key, what1);
  assert.match(
    one.stderr,
    /cannot be asked at that address: use a shorter one \(shardgate's admin port takes 16 KiB a request, its proxy port 8 KB: check --admin\)\n$/,
    what1,
  );

  // Among other keys: those before it are answered in their own batch, the long one is refused.
  const many = await runCtl(["--admin", sg.adminUrl, "route", "users", "alice", "bob", key]);
  const what2 = `ctl route users alice bob <${key.length}-char key>: exit ${many.code}\nstderr: ${many.stderr.slice(0, 600)}\n${seedNote(SEED)}`;
  assertTooLong(many, key, what2);

  // The admin port still answers, and short keys still route.
  const ok = await runCtl(["--admin", sg.adminUrl, "route", "users", "alice", "bob"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^KEY\s+MEMBER/);
});

test("a batch refused as too long (a proxy in front taking 8 KiB) is asked again in halves; the proxy port still says so", async () => {
  const random = seededRandom(SEED + 1);
  // 40 keys of 200-300 letters: one ~10 KiB batch, under the admin port's limit, over 8 KiB.
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}-${"x".repeat(200 + Math.floor(random() * 100))}`);
  const adminPort = Number(new URL(sg.adminUrl).port);
  // A reverse proxy in front of the admin port whose parser takes 8 KiB of head (nginx's
  // large_client_header_buffers 8k answers 414 there; Node's parser answers 431).
  const asked: number[] = [];
  const relay = createServer({ maxHeaderSize: 8192 }, (req, res) => {
    asked.push(new URL(req.url ?? "/", "http://relay").searchParams.getAll("key").length);
    const up = httpRequest(
      { host: "127.0.0.1", port: adminPort, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  try {
    const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
    const r = await runCtl(["--admin", relayUrl, "--json", "route", "users", ...keys]);
    const what = `ctl --admin ${relayUrl} --json route users <40 keys>: exit ${r.code}, requests with ${JSON.stringify(asked)} keys\nstderr: ${r.stderr.slice(0, 800)}\n${seedNote(SEED)}`;
    assert.equal(r.code, 0, what);
    const answer = JSON.parse(r.stdout) as { routes: Array<{ key: string; member: string }> };
    assert.deepEqual(
      answer.routes.map((x) => x.key),
      keys,
      what,
    );
    assert.ok(
      answer.routes.every((x) => x.member === "tl1" || x.member === "tl2"),
      what,
    );
    // The 10 KiB batch was refused (it never reached the admin port), its halves answered.
    assert.ok(asked.length >= 2 && asked.every((n) => n < 40), what);
    assert.equal(
      asked.reduce((a, b) => a + b, 0),
      40,
      what,
    );
  } finally {
    await new Promise<void>((r) => relay.close(() => r()));
  }

  // shardgate's proxy port (8 KB) is split down too, and then said to be the proxy port.
  const p = await runCtl(["--admin", sg.httpUrl, "route", "users", ...keys]);
  const whatP = `ctl --admin ${sg.httpUrl} route users <40 keys>: exit ${p.code}\nstderr: ${p.stderr.slice(0, 800)}`;
  assert.equal(p.code, 1, whatP);
  assert.match(p.stderr, /is not a shardgate admin API: .*shardgate proxy port .*check --admin\n$/, whatP);
});
