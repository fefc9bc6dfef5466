// The page-cache file system's power-loss model with background writeback ("powerReordered"):
// each file's unsynced data reaches the disk up to any byte independently of other files, and
// directory operations since the last directory fsync persist as a prefix of their order. It
// is what lets the driver simulator produce "old segment torn + new segment non-empty" when a
// segment roll syncs both files in parallel (issue 9, fix 5).
import assert from "node:assert/strict";
import { test } from "node:test";
import { SEED, seededRandom } from "../support/prng.js";
import { MemFs } from "./mem-fs.js";

const D = "/d";

test(`powerReordered: a later write to a new file can survive while an earlier one to an old file is torn (seed ${SEED})`, async () => {
  const random = seededRandom(SEED);
  const fs = new MemFs();
  const a = fs.openWrite(`${D}/old`);
  fs.write(a, Buffer.from("aaaa"), 0);
  await fs.fdatasync(a);
  await fs.fsyncDir(D);
  fs.write(a, Buffer.from("AAAA"), 4); // the old file's unsynced tail
  const b = fs.openWrite(`${D}/new`); // created after it, name not synced
  fs.write(b, Buffer.from("bbbb"), 0);
  let tornAndNew = 0;
  let neither = 0;
  for (let i = 0; i < 300; i++) {
    const img = fs.image("powerReordered", random);
    const old = img.get(`${D}/old`)?.toString() ?? "";
    assert.ok("aaaaAAAA".startsWith(old) && old.length >= 4, `old file lost synced data: ${old}`);
    const nu = img.get(`${D}/new`);
    if (old.length < 8 && nu !== undefined && nu.length > 0) tornAndNew++;
    if (old === "aaaa" && nu === undefined) neither++;
  }
  assert.ok(tornAndNew > 0, "never old torn + new non-empty");
  assert.ok(neither > 0, "never only the synced state");
  // The plain power-loss kinds keep only synced data and names.
  assert.deepEqual([...fs.image("power").keys()], [`${D}/old`]);
  // Once everything is synced, every kind of crash leaves the cache's contents.
  await fs.fdatasync(a);
  await fs.fdatasync(b);
  await fs.fsyncDir(D);
  const img = fs.image("powerReordered", random);
  assert.equal(img.get(`${D}/old`)?.toString(), "aaaaAAAA");
  assert.equal(img.get(`${D}/new`)?.toString(), "bbbb");
});

test(`powerReordered: directory operations persist in order (a prefix), never a later one alone (seed ${SEED})`, async () => {
  const random = seededRandom(SEED + 1);
  const fs = new MemFs();
  const x = fs.openWrite(`${D}/x.tmp`);
  fs.write(x, Buffer.from("snap"), 0);
  await fs.fdatasync(x);
  await fs.fsyncDir(D);
  fs.rename(`${D}/x.tmp`, `${D}/x`); // first
  fs.unlink(`${D}/x`); // then
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const names = [...fs.image("powerReordered", random).keys()].sort().join(",");
    seen.add(names);
  }
  // Nothing, the rename alone, or both: never the unlink without the rename before it.
  assert.deepEqual([...seen].sort(), ["", `${D}/x`, `${D}/x.tmp`].sort());
});
