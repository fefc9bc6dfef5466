// `shardgate ctl route` with a key too long for the admin port: Node's parser there refuses a
// request line and head over 16 KiB with shardgate's 414 uri_too_long, which carries the request
// id that marks a proxy port. ctl said "is not a shardgate admin API ... answers as a shardgate
// proxy port does ... check --admin" about the right address, and printed the whole path (every
// byte of the key) in the message. It now says the request was refused as too long, names its
// size, cuts the path, and says what to do. A real shardgate, real `ctl` processes; the keys'
// lengths and letters are seeded.

import assert from "node:assert/strict";
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
    /cannot be asked of the admin API \(16 KiB a request\): use a shorter one\n$/,
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

test("a batch of many keys refused as too long (the proxy port's 8 KB) says fewer keys and --keys-file", async () => {
  const random = seededRandom(SEED + 1);
  // 40 keys of 200-300 letters: one ~10 KiB batch, under the admin port's limit, over the proxy port's.
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}-${"x".repeat(200 + Math.floor(random() * 100))}`);
  const r = await runCtl(["--admin", sg.httpUrl, "route", "users", ...keys]);
  const what = `ctl --admin ${sg.httpUrl} route users <40 keys>: exit ${r.code}\nstderr: ${r.stderr.slice(0, 800)}\n${seedNote(SEED)}`;
  assert.equal(r.code, 1, what);
  assert.match(
    r.stderr,
    /as too long \(414 uri_too_long\): the request was \d+ bytes; ask fewer or shorter keys/,
    what,
  );
  assert.match(r.stderr, /--keys-file FILE/, what);
  assert.match(
    r.stderr,
    /check --admin: the admin API takes 16 KiB a request, shardgate's proxy port 8 KB\n$/,
    what,
  );
  const ok = await runCtl(["--admin", sg.adminUrl, "route", "users", ...keys]);
  assert.equal(ok.code, 0, `the same keys at the admin port: ${ok.stderr}`);
  assert.equal(ok.stdout.trimEnd().split("\n").length, 41, ok.stdout);
});
