// Tried from the outside: the Raft log at the process's descriptor limit. After
// a segment roll the commit fsyncs the data directory, which needs a descriptor of its own: at
// the limit open(2) failed with EMFILE and the storage seam (config/raft/storage/storage-fs.ts)
// passed it up as a failed fsync; the log store then declared the storage unusable ("fsync
// failed") and Raft stopped until a restart, as for a lost disk, although nothing had reached
// the disk. Now the directory's open waits (bounded) for a descriptor. This test lowers its own
// soft RLIMIT_NOFILE with prlimit, takes every descriptor left, starts the real fsyncDir on a
// real directory, then frees the descriptors: the fsync completes.
// And the segment roll: once the active segment is full, the next append opens a new segment
// file; at the limit that open failed with EMFILE out of append (after the active segment's
// descriptor had already been queued to close), and Raft stopped as on a lost disk. Now the
// roll is postponed: the full segment takes the records, the commit is made durable, the roll
// happens once a descriptor is free, and a reopen reads every entry back.

import assert from "node:assert/strict";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FileStorage } from "../../config/raft/storage/index.js";
import { nodeStorageFs } from "../../config/raft/storage/storage-fs.js";
import type { Entry } from "../../config/raft/types.js";
import { closeAll, fdLimitUnavailable, takeEveryFd } from "../support/fd-limit.js";
import { randomBytes, seededRandom, testSeed } from "../support/prng.js";

const SKIP = fdLimitUnavailable();
const SEED = testSeed(11);

test("fsyncDir at the descriptor limit waits for a descriptor instead of failing as a lost disk", {
  skip: SKIP ?? false,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-fd-dir-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const taken: number[] = [];
  t.after(() => closeAll(taken));
  takeEveryFd(taken);
  // At the limit: the directory itself cannot be opened now.
  assert.throws(() => openSync(dir, "r"), { code: "EMFILE" });
  let settled: string | null = null;
  const synced = nodeStorageFs.fsyncDir(dir).then(
    () => {
      settled = "ok";
    },
    (err: NodeJS.ErrnoException) => {
      settled = err.code ?? String(err);
    },
  );
  // Descriptors come free (client connections closing): the waiting fsync goes through.
  closeAll(taken);
  await synced;
  assert.equal(settled, "ok");
});

test("a segment roll at the descriptor limit is postponed: the full segment takes the records, nothing is lost", {
  skip: SKIP ?? false,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-fd-roll-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const random = seededRandom(SEED);
  const ents = (from: number, to: number): Entry[] => {
    const out: Entry[] = [];
    for (let i = from; i <= to; i++)
      out.push({ index: i, term: 1, type: "normal", data: randomBytes(random, 40) });
    return out;
  };
  const s = await FileStorage.open(dir, { segmentBytes: 512 });
  const before = ents(1, 20);
  s.append(before);
  await s.sync();
  // 20 records of ~60 bytes: the active segment is past 512 bytes, the next append rolls.
  const segments = s.segmentNames().length;
  const taken: number[] = [];
  t.after(() => closeAll(taken));
  takeEveryFd(taken);
  const atLimit = ents(21, 30);
  s.append(atLimit);
  s.setHardState({ term: 1, vote: "n1", commit: 30 });
  await s.sync();
  assert.equal(s.segmentNames().length, segments, "no new segment at the limit");
  closeAll(taken);
  const afterwards = ents(31, 35);
  s.append(afterwards);
  await s.sync();
  assert.equal(s.segmentNames().length, segments + 1, "the postponed roll, once a descriptor is free");
  await s.close();
  const r = await FileStorage.open(dir);
  t.after(() => r.close());
  const all = [...before, ...atLimit, ...afterwards];
  const got = r.entries(1, 36);
  assert.equal(got.length, all.length, `seed=${SEED}`);
  for (let k = 0; k < all.length; k++) {
    assert.equal(got[k].index, all[k].index);
    assert.deepEqual(
      Buffer.from(got[k].data),
      Buffer.from(all[k].data),
      `seed=${SEED} index ${all[k].index}`,
    );
  }
  assert.deepEqual(r.initialState().hardState, { term: 1, vote: "n1", commit: 30 });
  assert.deepEqual(r.warnings, []);
});
