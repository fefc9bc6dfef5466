// `shardgate ctl route POOL --keys-file F` where F is a FIFO. Tried from the outside: a FIFO
// nobody writes held ctl for ever (readFileSync blocked in open(2)); the proxy's own readers
// refuse or bound such files, ctl's did not. Pipes stay accepted (`--keys-file <(cmd)` is a
// common shell idiom): a FIFO whose writer comes is read to its end, and one that gives nothing
// for KEYS_PIPE_IDLE_MS ends ctl with exit 2 and an error naming the file and the wait. ctl runs
// here with that bound shortened (SHARDGATE_TEST_KEYS_PIPE_IDLE_MS): what is tried is that it
// ends at the bound, not the bound's length; test/proxy/test-duration.test.ts checks the 10 s default.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { feedAndClose, fifoWriter } from "../support/fifo-config.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

/** The idle bound ctl runs with in the silent-FIFO case. */
const IDLE_TEST_MS = 1_500;

let ups: EchoUpstream[] = [];
let sg: RunningShardgate;
let dir: string;

before(async () => {
  ups = await startUpstreams(2, "kf");
  sg = await startShardgate(poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) }));
  dir = mkdtempSync(join(tmpdir(), "sg-keys-fifo-"));
});

after(async () => {
  await stopAll();
  await closeAll(ups);
  rmSync(dir, { recursive: true, force: true });
});

test("a keys FIFO nobody writes: ctl exits 2 after the idle bound, naming the file", {
  timeout: 120_000,
}, async () => {
  const fifo = join(dir, "silent.fifo");
  execFileSync("mkfifo", [fifo]);
  const started = Date.now();
  // Bounded by runCtl: the old ctl never exits, and this rejects after 60 s (scaled).
  const r = await runCtl(
    ["--admin", sg.adminUrl, "route", "users", "--keys-file", fifo],
    { SHARDGATE_TEST_KEYS_PIPE_IDLE_MS: String(IDLE_TEST_MS) },
    60_000,
  );
  assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`--keys-file "${fifo.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`));
  assert.match(
    r.stderr,
    new RegExp(`nothing arrived for ${IDLE_TEST_MS} ms \\(a FIFO nobody writes`),
    r.stderr,
  );
  assert.ok(Date.now() - started >= IDLE_TEST_MS, "it waited the idle bound for a writer");
});

test("a keys FIFO whose writer comes (the <(cmd) idiom) is read to its end", {
  timeout: 120_000,
}, async () => {
  const fifo = join(dir, "keys.fifo");
  execFileSync("mkfifo", [fifo]);
  const run = runCtl(["--admin", sg.adminUrl, "route", "users", "--keys-file", fifo]);
  feedAndClose(await fifoWriter(fifo, "ctl opening the keys FIFO"), "alice\nbob\ncarol\n");
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trimEnd().split("\n").slice(1);
  assert.deepEqual(
    rows.map((l) => l.split(/\s+/)[0]),
    ["alice", "bob", "carol"],
    r.stdout,
  );
  const members = new Set(ups.map((u) => u.id));
  for (const row of rows) assert.ok(members.has(row.split(/\s+/)[1]), row);
});
