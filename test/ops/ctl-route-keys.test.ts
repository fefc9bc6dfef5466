// `shardgate ctl route POOL K1 K2 ...` and `--keys-file F`: many keys through /admin/routes,
// 1,000 a request, one row per key in the order given, each row what /admin/route says of that
// key. Before, `route` took exactly one key and refused the rest (exit 2). A real shardgate over
// three real upstreams; 2,300 seeded keys (three batches), one of them hostile to a terminal.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import {
  fetchJson,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(1511);
const HOSTILE = "k\u001b]0;owned\u0007\u001b[2J";

let ups: EchoUpstream[];
let sg: RunningShardgate;
let dir: string;

before(async () => {
  ups = await startUpstreams(3, "rk");
  sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
  );
  dir = mkdtempSync(join(tmpdir(), "sg-route-keys-"));
});
after(async () => {
  await sg?.stop();
  await stopAll();
  await closeAll(ups ?? []);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function seededKeys(n: number): string[] {
  const random = seededRandom(SEED);
  return Array.from({ length: n }, (_, i) => `user-${i}-${Math.floor(random() * 1e9).toString(36)}`);
}

test("ctl route with a keys file prints one row per key, in order, as /admin/route answers each", async () => {
  const keys = seededKeys(2_300);
  const file = join(dir, "keys.txt");
  writeFileSync(file, `${keys.join("\r\n")}\n\n`);
  const r = await runCtl(["--admin", sg.adminUrl, "route", "users", "first-key", "--keys-file", file]);
  assert.equal(r.code, 0, `${seedNote(SEED)}\n${r.stderr}`);
  const all = ["first-key", ...keys];
  const lines = r.stdout.trimEnd().split("\n");
  assert.match(lines[0], /^KEY\s+MEMBER\s+OWNER\s+SKIPPED\s+RING$/);
  assert.equal(lines.length, all.length + 1, seedNote(SEED));
  const members = new Set(ups.map((u) => u.id));
  const seen = new Set<string>();
  const random = seededRandom(SEED ^ 0x5eed);
  for (const [i, key] of all.entries()) {
    const cols = lines[i + 1].split(/\s+/);
    assert.equal(cols[0], key, `${seedNote(SEED)} row ${i}`);
    assert.ok(members.has(cols[1]), `${seedNote(SEED)} row ${i}: ${lines[i + 1]}`);
    seen.add(cols[1]);
    // A sample of rows checked against the one-key endpoint (every row would be 2,300 calls).
    if (i < 3 || random() < 0.02) {
      const one = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(key)}`);
      assert.equal(cols[1], (one.body as { member: string }).member, `${seedNote(SEED)} key ${key}`);
    }
  }
  assert.equal(seen.size, members.size, `${seedNote(SEED)}: 2,301 keys reach every member`);
});

test("ctl route K1 K2 --json: the keys' answers; a hostile key prints as inert text", async () => {
  const r = await runCtl(["--admin", sg.adminUrl, "route", "users", "a", HOSTILE, "b"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes("\u001b"), r.stdout);
  const rows = r.stdout.trimEnd().split("\n").slice(1);
  assert.deepEqual(
    rows.map((l) => l.split(/\s+/)[0]),
    ["a", "k\\x1b]0;owned\\x07\\x1b[2J", "b"],
  );
  const j = await runCtl(["--admin", sg.adminUrl, "--json", "route", "users", "a", HOSTILE]);
  assert.equal(j.code, 0, j.stderr);
  const body = JSON.parse(j.stdout) as { pool: string; routes: Array<{ key: string; member: string }> };
  assert.deepEqual(
    body.routes.map((x) => x.key),
    ["a", HOSTILE],
  );
  const one = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=a`);
  assert.equal(body.routes[0].member, (one.body as { member: string }).member);
});

test("long keys close a batch early (the admin server refuses a request line over 16 KiB); stdin with -", async () => {
  // 60 keys of 700 characters: one /admin/routes URL with all of them is ~42 KiB (431).
  const keys = seededKeys(60).map((k, i) => `${k}-${String(i).padStart(2, "0")}-${"x".repeat(680)}`);
  const { code, stdout, stderr } = await runCtl(
    ["--admin", sg.adminUrl, "--json", "route", "users", "--keys-file", "-"],
    {},
    60_000,
    `${keys.join("\n")}\n`,
  );
  assert.equal(code, 0, `${seedNote(SEED)}\n${stderr}`);
  const body = JSON.parse(stdout) as { routes: Array<{ key: string; member: string }> };
  assert.deepEqual(
    body.routes.map((r) => r.key),
    keys,
  );
  const last = keys[keys.length - 1];
  const one = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(last)}`);
  assert.equal(body.routes[keys.length - 1].member, (one.body as { member: string }).member);
});

test("ctl route: exit codes as before (unknown pool 1, no key 2, --keys-file elsewhere 2, missing file 2)", async () => {
  const unknown = await runCtl(["--admin", sg.adminUrl, "route", "nope", "a", "b"]);
  assert.equal(unknown.code, 1, unknown.stderr);
  assert.match(unknown.stderr, /unknown_pool/);
  const none = await runCtl(["--admin", sg.adminUrl, "route", "users"]);
  assert.equal(none.code, 2, none.stderr);
  const elsewhere = await runCtl(["--admin", sg.adminUrl, "members", "users", "--keys-file", "x"]);
  assert.equal(elsewhere.code, 2, elsewhere.stderr);
  const missing = await runCtl([
    "--admin",
    sg.adminUrl,
    "route",
    "users",
    "--keys-file",
    join(dir, "absent.txt"),
  ]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /--keys-file/);
});
