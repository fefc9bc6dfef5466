// Which files a reload waits for (config/file/settled-file.ts), on real files: only one that
// may be half written, i.e. on the inode it was last read from (or never read) and changed
// within the settle period. A file renamed or symlink-swapped into place (a new inode) is whole
// by construction and read at once; so is one untouched for longer than the period. The
// process-level cases are in test/outside/reload-torn-config.test.ts.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  keepReads,
  type LastReads,
  markOfSync,
  readSettled,
  recentlyChanged,
  rememberReads,
} from "../../config/file/settled-file.js";

const dir = mkdtempSync(join(tmpdir(), "sg-settled-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Far longer than anything here takes: "changed within the period" holds for every write. */
const SETTLE = 5000;

/** The paths of `paths` a reload would wait for now, given the last reads `last`. */
const waitedFor = (paths: string[], last: LastReads) =>
  recentlyChanged(paths.map(markOfSync), SETTLE, Date.now(), last).map((m) => m.path);

test("written in place since its last read: waited for; renamed into place: read at once", () => {
  const f = join(dir, "config.yaml");
  writeFileSync(f, "a: 1\n");
  const last: LastReads = new Map();
  assert.deepEqual(waitedFor([f], last), [f], "never read and just written: may be half written");
  rememberReads(last, [markOfSync(f)]);

  writeFileSync(f, "a: 2\n"); // the same inode, truncated and written
  assert.deepEqual(waitedFor([f], last), [f], "written in place within the period");

  writeFileSync(`${f}.next`, "a: 3\n");
  renameSync(`${f}.next`, f);
  assert.deepEqual(waitedFor([f], last), [], "a new inode: renamed in, whole (the old rule waited)");

  rememberReads(last, [markOfSync(f)]);
  writeFileSync(f, "a: 4\n");
  assert.deepEqual(waitedFor([f], last), [f], "the renamed file, now written in place: waited for again");
  assert.deepEqual(
    recentlyChanged([markOfSync(f)], SETTLE, Date.now() + 2 * SETTLE, last),
    [],
    "untouched for longer than the period: read at once",
  );
});

test("a Kubernetes ConfigMap's symlink swap gives the path a new inode: read at once", () => {
  // The volume's layout: f -> ..data/f, ..data -> a timestamped folder, swapped by a rename.
  const vol = join(dir, "configmap");
  mkdirSync(join(vol, "v1"), { recursive: true });
  mkdirSync(join(vol, "v2"));
  writeFileSync(join(vol, "v1", "shardgate.yaml"), "a: 1\n");
  symlinkSync("v1", join(vol, "..data"));
  symlinkSync("..data/shardgate.yaml", join(vol, "shardgate.yaml"));
  const f = join(vol, "shardgate.yaml");
  const last: LastReads = new Map();
  rememberReads(last, [markOfSync(f)]);
  writeFileSync(join(vol, "v2", "shardgate.yaml"), "a: 2\n");
  symlinkSync("v2", join(vol, "..data_tmp"));
  renameSync(join(vol, "..data_tmp"), join(vol, "..data"));
  assert.deepEqual(waitedFor([f], last), [], "the swapped-in file is whole");
});

test("readSettled reads a renamed-in file without waiting and remembers it for the next read", async () => {
  const f = join(dir, "read.yaml");
  writeFileSync(f, "a: 1\n");
  const last: LastReads = new Map();
  rememberReads(last, [markOfSync(f)]);
  writeFileSync(`${f}.next`, "a: 2\n");
  renameSync(`${f}.next`, f);
  const waits: string[][] = [];
  const { value, report } = await readSettled(
    [f],
    async () => "read",
    { settleMs: SETTLE, maxMs: 4 * SETTLE },
    (p) => waits.push(p),
    last,
  );
  assert.equal(value, "read");
  assert.deepEqual(waits, [], "no wait for a renamed-in file (the old rule waited the whole period)");
  assert.deepEqual(report.waitedFor, []);
  assert.equal(last.get(f)?.ino, markOfSync(f).ino, "the read's mark is kept for the next reload");
});

test("keepReads keeps the marks of the paths a config still reads, and drops the others", () => {
  const [a, b, gone] = ["keep-a.yaml", "keep-b.pem", "gone.pem"].map((f) => join(dir, f));
  for (const p of [a, b, gone]) writeFileSync(p, "x\n");
  const last: LastReads = new Map();
  rememberReads(last, [a, b, gone].map(markOfSync));
  keepReads(last, [a, b]);
  assert.deepEqual([...last.keys()].sort(), [a, b].sort());
  // Both renamed into place since: a kept path's new inode says "whole" (read at once); a
  // dropped path is as never read, so a file written within the period is waited for.
  for (const p of [a, gone]) {
    writeFileSync(`${p}.new`, "y\n");
    renameSync(`${p}.new`, p);
  }
  assert.deepEqual(waitedFor([a, gone], last), [gone]);
});
