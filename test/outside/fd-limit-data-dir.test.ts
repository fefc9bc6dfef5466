// Tried from the outside: the Raft log's group commit at the process's descriptor limit. After
// a segment roll the commit fsyncs the data directory, which needs a descriptor of its own: at
// the limit open(2) failed with EMFILE and the storage seam (config/raft/storage/storage-fs.ts)
// passed it up as a failed fsync; the log store then declared the storage unusable ("fsync
// failed") and Raft stopped until a restart, as for a lost disk, although nothing had reached
// the disk. Now the directory's open waits (bounded) for a descriptor. This test lowers its own
// soft RLIMIT_NOFILE with prlimit, takes every descriptor left, starts the real fsyncDir on a
// real directory, then frees the descriptors: the fsync completes.

import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { nodeStorageFs } from "../../config/raft/storage/storage-fs.js";
import { fdLimitUnavailable, highestFd, setSoftFdLimit } from "../support/fd-limit.js";

const SKIP = fdLimitUnavailable();
/** Bounds the descriptors the test takes. */
const MAX_TAKEN = 4_096;

test("fsyncDir at the descriptor limit waits for a descriptor instead of failing as a lost disk", {
  skip: SKIP ?? false,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-fd-dir-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const taken: number[] = [];
  t.after(() => {
    for (const fd of taken.splice(0)) closeSync(fd);
  });
  setSoftFdLimit(process.pid, highestFd(process.pid) + 1 + 32);
  for (;;) {
    assert.ok(taken.length < MAX_TAKEN, `took ${taken.length} descriptors without reaching the limit`);
    try {
      taken.push(openSync("/dev/null", "r"));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, "EMFILE", String(err));
      break;
    }
  }
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
  for (const fd of taken.splice(0)) closeSync(fd);
  await synced;
  assert.equal(settled, "ok");
});
