// The data directory's LOCK (proxy/app/data-dir-lock.ts), in process: the kernel lock on the
// file decides; an empty or torn file nobody holds is a crash's leftover (taken over). Between
// processes: simultaneous-starts.test.ts.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { lockDataDir } from "../../proxy/app/data-dir-lock.js";

test("an empty LOCK nobody holds is taken at once; while held, a second taker is refused naming the holder", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-lock-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Written an instant ago and empty: the old lock took it for a start in progress and refused
  // for 5 s. The kernel lock on the file says whether a process holds it; nobody does here.
  writeFileSync(join(dir, "LOCK"), "");
  const r = lockDataDir(dir);
  assert.equal(r.ok, true, JSON.stringify(r));
  // A second descriptor (as another process would open) finds it held.
  const again = lockDataDir(dir);
  assert.equal(again.ok, false);
  assert.equal(!again.ok && again.code, "data_dir_locked");
  assert.match(!again.ok ? again.message : "", new RegExp(`in use by process ${process.pid}`));
  if (r.ok) r.release();
  assert.equal(existsSync(join(dir, "LOCK")), false, "released: removed");
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
