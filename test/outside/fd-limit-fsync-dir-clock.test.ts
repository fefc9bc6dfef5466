// The Raft log's directory fsync at this process's descriptor limit (config/raft/storage/
// storage-fs.ts fsyncDir): open(2) fails before anything reached the disk, so it waits, bounded
// (30 s), for a descriptor instead of declaring the storage unusable. Found on the old code: the
// bound was a Date.now() deadline, so a wall-clock step forward during the wait (NTP, a resumed
// VM) ended it at once and the group commit failed with EMFILE although a descriptor came back
// a moment later (a step back would have held it for the length of the step). Now measured on
// the monotonic clock.
//
// This test process's own limit is lowered with prlimit (test/support/fd-limit.ts) so the open
// really fails with EMFILE; the wall clock is stepped in-process (Date.now replaced for the
// test, restored after): libfaketime, which steps a child's clock in test/outside/clock-*,
// cannot read its offset file in a process at its descriptor limit.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { nodeStorageFs } from "../../config/raft/storage/storage-fs.js";
import { fdLimitUnavailable } from "../support/fd-limit.js";

const SKIP = fdLimitUnavailable() ?? undefined;
/** Descriptors held and then closed together: the one the fsync waits for, and prlimit's spawn. */
const HELD = 8;

function setOwnSoftLimit(soft: number): void {
  const r = spawnSync("prlimit", ["--pid", String(process.pid), `--nofile=${soft}:`], { stdio: "ignore" });
  assert.equal(r.status, 0, `prlimit: ${r.error?.message ?? r.status}`);
}

test("a directory fsync waiting for a descriptor is not cut short by a wall-clock step forward", {
  skip: SKIP,
  timeout: 60_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-fsync-dir-"));
  const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "latin1"));
  assert.ok(m !== null, "a numeric soft limit");
  const original = Number(m[1]);
  const realDateNow = Date.now;
  let wall = 0;
  Date.now = () => realDateNow() + wall;
  const held: number[] = [];
  t.after(() => {
    Date.now = realDateNow;
    for (const fd of held.splice(0)) closeSync(fd);
    setOwnSoftLimit(original);
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < HELD; i++) held.push(openSync("/dev/null", "r"));
  // open(2) takes the lowest free number: as the limit, every number below it is in use.
  const limit = openSync("/dev/null", "r");
  closeSync(limit);
  setOwnSoftLimit(limit);
  assert.throws(() => openSync("/dev/null", "r"), { code: "EMFILE" }, "at the limit");

  const synced = nodeStorageFs.fsyncDir(dir);
  // The wall clock steps an hour forward while the fsync waits; a descriptor frees 200 ms later.
  wall = 3_600_000;
  await new Promise((r) => setTimeout(r, 200));
  for (const fd of held.splice(0)) closeSync(fd);
  await synced;
  setOwnSoftLimit(original);
});
