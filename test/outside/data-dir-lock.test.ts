// The data directory's LOCK (proxy/app/data-dir-lock.ts), in process: a lock file is created
// and then written, so an unreadable one is either being written by a process starting at the
// same instant (refused) or a crash's leftover (taken over).

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { lockDataDir } from "../../proxy/app/data-dir-lock.js";

test("an empty LOCK written an instant ago is another start in progress: refused, and left in place", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-lock-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "LOCK"), "");
  const r = lockDataDir(dir);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, "data_dir_locked");
  assert.match(!r.ok ? r.message : "", /being taken by another process/);
  assert.equal(readFileSync(join(dir, "LOCK"), "utf8"), "", "the other process's lock is not removed");
});

test("an empty or torn LOCK from long ago is a crash's leftover: taken over, and released", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-lock-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const leftover of ["", '{"pid":12']) {
    const file = join(dir, "LOCK");
    writeFileSync(file, leftover);
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    const r = lockDataDir(dir);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal((JSON.parse(readFileSync(file, "utf8")) as { pid: number }).pid, process.pid);
    if (r.ok) r.release();
  }
});
