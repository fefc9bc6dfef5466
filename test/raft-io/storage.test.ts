// File log store: reopen round trips, torn tails at every cut point, middle corruption,
// conflict truncation, compaction, snapshot atomicity and one fdatasync per group commit.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import {
  countingFs,
  FileStorage,
  StorageCorruptError,
  StorageError,
} from "../../config/raft/storage/index.js";
import { decodeSnapshot, encodeSnapshot } from "../../config/raft/storage/snapshot-files.js";
import type { ConfState, Entry, RetiredState, Snapshot } from "../../config/raft/types.js";
import { randomBytes, SEED, seededRandom } from "../support/prng.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-storage-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => path.join(root, `d${dirs++}`);
const rand = seededRandom(SEED);
const seedMsg = `seed=${SEED}`;
const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

function ents(from: number, to: number, term: number, size = 20): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: i % 7 === 0 ? "conf" : "normal", data: randomBytes(rand, size) });
  }
  return out;
}

function assertEntries(s: FileStorage, want: Entry[]): void {
  const got = s.entries(want[0].index, want[want.length - 1].index + 1);
  assert.equal(got.length, want.length, seedMsg);
  for (let k = 0; k < want.length; k++) {
    assert.equal(got[k].index, want[k].index, seedMsg);
    assert.equal(got[k].term, want[k].term, seedMsg);
    assert.equal(got[k].type, want[k].type, seedMsg);
    assert.deepEqual(Buffer.from(got[k].data), Buffer.from(want[k].data), seedMsg);
  }
}

const noSync = { fsync: false };

describe("file storage", () => {
  it("persists entries and hard state across reopen, over several segments", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, { segmentBytes: 512 });
    const all = ents(1, 60, 1);
    for (let i = 0; i < all.length; i += 7) s.append(all.slice(i, i + 7));
    s.setHardState({ term: 3, vote: "n2", commit: 42 });
    await s.sync();
    assert.ok(s.segmentNames().length > 3, "expected segment rolls");
    await s.close();
    const r = await FileStorage.open(dir);
    assert.equal(r.firstIndex(), 1);
    assert.equal(r.lastIndex(), 60);
    assertEntries(r, all);
    assert.deepEqual(r.initialState().hardState, { term: 3, vote: "n2", commit: 42 });
    assert.deepEqual(r.warnings, []);
    await r.close();
  });

  it("cuts a torn last record at every byte offset and keeps everything before it", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, noSync);
    const all = ents(1, 5, 2, 33);
    s.setHardState({ term: 2, vote: "a", commit: 3 });
    s.append(all.slice(0, 4));
    await s.sync(); // records are queued until the group commit writes them
    const seg = path.join(dir, s.segmentNames()[0]);
    const before = fs.statSync(seg).size;
    s.append(all.slice(4));
    await s.close();
    const full = fs.readFileSync(seg);
    assert.ok(full.length > before);
    for (let cut = before; cut < full.length; cut++) {
      const d = freshDir();
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, path.basename(seg)), full.subarray(0, cut));
      const r = await FileStorage.open(d, noSync);
      assert.equal(r.lastIndex(), 4, `cut=${cut}`);
      assertEntries(r, all.slice(0, 4));
      assert.equal(r.initialState().hardState.commit, 3);
      if (cut > before) {
        assert.equal(r.warnings.length, 1, `cut=${cut}`);
        assert.match(r.warnings[0], new RegExp(`byte offset ${before}\\b`));
      }
      // The cut is repaired on disk: appending and reopening works.
      r.append(ents(5, 6, 2));
      await r.close();
      const again = await FileStorage.open(d, noSync);
      assert.equal(again.lastIndex(), 6, `cut=${cut}`);
      assert.deepEqual(again.warnings, []);
      await again.close();
    }
    // A bad checksum on the very last record is a torn write too.
    const d = freshDir();
    fs.mkdirSync(d);
    const flipped = Buffer.from(full);
    flipped[full.length - 1] ^= 0xff;
    fs.writeFileSync(path.join(d, path.basename(seg)), flipped);
    const r = await FileStorage.open(d, noSync);
    assert.equal(r.lastIndex(), 4);
    assert.match(r.warnings[0], /checksum mismatch/);
    await r.close();
  });

  it("refuses to open when a record in the middle is corrupt, naming file and offset", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, noSync);
    s.append(ents(1, 2, 1));
    await s.sync();
    const seg = path.join(dir, s.segmentNames()[0]);
    const off = fs.statSync(seg).size; // record of entry 3 starts here
    s.append(ents(3, 6, 1));
    await s.close();
    const buf = fs.readFileSync(seg);
    const pos = off + 8 + Math.floor(rand() * 14);
    buf[pos] ^= 0x5a;
    fs.writeFileSync(seg, buf);
    await assert.rejects(FileStorage.open(dir, noSync), (err: unknown) => {
      assert.ok(err instanceof StorageCorruptError, `${seedMsg} pos=${pos}`);
      assert.equal(err.code, "STORAGE_CORRUPT");
      assert.equal(err.file, path.basename(seg));
      assert.equal(err.offset, off);
      assert.match(err.message, new RegExp(`${path.basename(seg)} at byte offset ${off}`));
      return true;
    });
  });

  it("treats a bad tail in a segment that is not the last as corruption", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, { ...noSync, segmentBytes: 200 });
    s.append(ents(1, 20, 1));
    s.append(ents(21, 30, 1));
    const names = s.segmentNames();
    await s.close();
    assert.ok(names.length >= 2);
    const first = path.join(dir, names[0]);
    const size = fs.statSync(first).size;
    fs.truncateSync(first, size - 3);
    await assert.rejects(FileStorage.open(dir, noSync), (err: unknown) => {
      assert.ok(err instanceof StorageCorruptError);
      assert.equal(err.file, names[0]);
      return true;
    });
  });

  it("cuts a torn tail followed only by an empty segment (a crash right after a roll)", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, { ...noSync, segmentBytes: 200 });
    const all = ents(1, 30, 1);
    s.append(all.slice(0, 20));
    s.append(all.slice(20));
    const names = s.segmentNames();
    await s.close();
    assert.equal(names.length, 2);
    // The roll created the second file, then the crash hit mid-write of the first one's tail.
    const first = path.join(dir, names[0]);
    fs.truncateSync(first, fs.statSync(first).size - 3);
    fs.truncateSync(path.join(dir, names[1]), 0);
    const r = await FileStorage.open(dir, { ...noSync, segmentBytes: 200 });
    assert.equal(r.lastIndex(), 19);
    assertEntries(r, all.slice(0, 19));
    assert.deepEqual(r.segmentNames(), [names[0]]);
    assert.equal(r.warnings.length, 2, r.warnings.join("; "));
    assert.match(r.warnings[0], /removed empty segment/);
    assert.match(r.warnings[1], /torn record/);
    // The torn segment is the active one again: appending and reopening round-trips.
    r.append(all.slice(19));
    await r.sync();
    await r.close();
    const again = await FileStorage.open(dir, noSync);
    assertEntries(again, all);
    assert.deepEqual(again.warnings, []);
    await again.close();
  });

  it("truncates the log on a conflicting append, in memory and on disk, across segments", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, { ...noSync, segmentBytes: 300 });
    for (let i = 1; i <= 30; i += 3) s.append(ents(i, i + 2, 1));
    s.setHardState({ term: 2, vote: "b", commit: 5 });
    const before = s.segmentNames().length;
    assert.ok(before >= 3);
    const replacement = ents(6, 8, 2);
    s.append(replacement);
    assert.equal(s.lastIndex(), 8);
    assert.equal(s.term(6), 2);
    assert.equal(s.term(5), 1);
    assert.ok(s.segmentNames().length < before, "newer segments deleted");
    await s.close();
    const r = await FileStorage.open(dir, noSync);
    assert.equal(r.lastIndex(), 8);
    assertEntries(r, replacement);
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: "b", commit: 5 });
    // A conflict inside the active segment.
    const tail = ents(8, 9, 3);
    r.append(tail);
    assert.equal(r.lastIndex(), 9);
    await r.close();
    const r2 = await FileStorage.open(dir, noSync);
    assertEntries(r2, tail);
    assert.equal(r2.term(7), 2);
    await r2.close();
  });

  it("rejects gaps, and reads outside the log with coded errors", async () => {
    const s = await FileStorage.open(freshDir(), noSync);
    s.append(ents(1, 3, 1));
    assert.throws(
      () => s.append(ents(5, 6, 1)),
      (e: unknown) => e instanceof StorageError && e.code === "STORAGE_BAD_ARGUMENT",
    );
    assert.throws(
      () => s.term(4),
      (e: unknown) => (e as { code?: string }).code === "UNAVAILABLE",
    );
    assert.throws(
      () => s.entries(2, 9),
      (e: unknown) => (e as { code?: string }).code === "UNAVAILABLE",
    );
    assert.equal(s.entries(1, 4, 1).length, 1, "maxBytes limits but returns at least one entry");
    await s.close();
  });

  it("compacts after a snapshot: drops whole segments below it and survives reopen", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, { ...noSync, segmentBytes: 256 });
    const all = ents(1, 80, 1);
    for (let i = 0; i < all.length; i += 4) s.append(all.slice(i, i + 4));
    const segsBefore = s.segmentNames().length;
    const snap: Snapshot = {
      meta: { index: 50, term: 1, conf: { voters: ["a", "b"], learners: ["c"] } },
      data: randomBytes(rand, 100),
    };
    await s.saveSnapshot(snap);
    await assert.rejects(
      s.compact(60),
      (e: unknown) => e instanceof StorageError && e.code === "STORAGE_BAD_ARGUMENT",
    );
    await s.compact(50);
    assert.equal(s.firstIndex(), 51);
    assert.equal(s.term(50), 1);
    assert.throws(
      () => s.term(49),
      (e: unknown) => (e as { code?: string }).code === "COMPACTED",
    );
    assert.ok(s.segmentNames().length < segsBefore);
    const onDisk = fs.readdirSync(dir).filter((n) => n.startsWith("wal-"));
    assert.deepEqual(onDisk.sort(), s.segmentNames());
    await s.close();
    const r = await FileStorage.open(dir, noSync);
    assert.equal(r.firstIndex(), 51);
    assert.equal(r.lastIndex(), 80);
    assertEntries(r, all.slice(50));
    assert.deepEqual(r.snapshot().meta, snap.meta);
    assert.deepEqual(Buffer.from(r.snapshot().data), Buffer.from(snap.data));
    assert.deepEqual(r.initialState().confState, snap.meta.conf);
    await r.close();
  });

  it("keeps a snapshot's retired data directories across a reopen; a malformed list is damage", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, noSync);
    s.append(ents(1, 10, 1));
    const retired: RetiredState = {
      retired: [["c", ["", "c1"]]],
      departed: [["d", ["d1"], "d2"]],
      trusted: [["e", "e3"]],
    };
    const snap: Snapshot = { meta: { index: 8, term: 1, conf: ABC, retired }, data: new Uint8Array([8]) };
    await s.saveSnapshot(snap);
    await s.close();
    const r = await FileStorage.open(dir, noSync);
    assert.deepEqual(r.initialState().retired, retired, "the retired directories did not survive a reopen");
    assert.deepEqual(r.snapshot().meta, snap.meta);
    await r.close();
    // Nothing retired: the file has the bytes it had before retired directories were kept.
    const none = { retired: [], departed: [], trusted: [] };
    const plain: Snapshot = { meta: { index: 8, term: 1, conf: ABC }, data: new Uint8Array([8]) };
    assert.deepEqual(
      encodeSnapshot({ ...plain, meta: { ...plain.meta, retired: none } }),
      encodeSnapshot(plain),
    );
    for (const bad of [
      { retired: [["c", "c1"]], departed: [], trusted: [] },
      { retired: [], departed: [["d", ["d1"]]], trusted: [] },
      { retired: [], departed: [], trusted: [["e", 3]] },
    ]) {
      const b = encodeSnapshot({
        meta: { ...snap.meta, retired: bad as unknown as RetiredState },
        data: snap.data,
      });
      assert.throws(
        () => decodeSnapshot(b, "snap-x"),
        (e: unknown) => e instanceof StorageCorruptError && /retired\?/.test(e.message),
        JSON.stringify(bad),
      );
    }
  });

  it("installs a received snapshot replacing the log; ignores and removes temp files; prunes old snapshots", async () => {
    const dir = freshDir();
    const s = await FileStorage.open(dir, noSync);
    s.append(ents(1, 10, 1));
    for (const i of [3, 5, 7]) {
      await s.saveSnapshot({
        meta: { index: i, term: 1, conf: { voters: ["a"], learners: [] } },
        data: new Uint8Array([i]),
      });
    }
    assert.equal(fs.readdirSync(dir).filter((n) => n.endsWith(".snap")).length, 2);
    await s.applySnapshot({
      meta: { index: 100, term: 4, conf: { voters: ["a", "b", "c"], learners: [] } },
      data: new Uint8Array([9]),
    });
    assert.equal(s.firstIndex(), 101);
    assert.equal(s.lastIndex(), 100);
    assert.equal(s.term(100), 4);
    s.append(ents(101, 102, 4));
    await s.close();
    fs.writeFileSync(path.join(dir, "snap-0000000000000200-0000000000000005.snap.tmp"), "half a snapshot");
    const r = await FileStorage.open(dir, noSync);
    assert.equal(r.snapshot().meta.index, 100);
    assert.equal(r.firstIndex(), 101);
    assert.equal(r.lastIndex(), 102);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /temp file/);
    assert.ok(!fs.readdirSync(dir).some((n) => n.endsWith(".tmp")));
    await r.close();
    // A snapshot file that fails its checksum stops the node.
    const snapName = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith(".snap"))
      .sort()
      .pop() as string;
    const b = fs.readFileSync(path.join(dir, snapName));
    b[b.length - 1] ^= 1;
    fs.writeFileSync(path.join(dir, snapName), b);
    await assert.rejects(
      FileStorage.open(dir, noSync),
      (e: unknown) => e instanceof StorageCorruptError && e.file === snapName,
    );
  });

  it("issues exactly one fdatasync per group commit and none with fsync off", async () => {
    const cfs = countingFs();
    const s = await FileStorage.open(freshDir(), { fs: cfs });
    const base = cfs.counts.fdatasync;
    for (let batch = 0; batch < 5; batch++) {
      s.append(ents(batch * 3 + 1, batch * 3 + 3, 1));
      s.setHardState({ term: 1, vote: "x", commit: batch * 3 });
      await s.sync();
      assert.equal(cfs.counts.fdatasync, base + batch + 1, `batch ${batch}`);
    }
    // Concurrent callers share flushes: 10 writers, at most 2 fdatasyncs.
    const before = cfs.counts.fdatasync;
    const waits: Promise<void>[] = [];
    for (let k = 0; k < 10; k++) {
      s.append(ents(16 + k, 16 + k, 1));
      waits.push(s.sync());
    }
    await Promise.all(waits);
    const used = cfs.counts.fdatasync - before;
    assert.ok(used >= 1 && used <= 2, `used ${used}`);
    await s.sync();
    assert.equal(cfs.counts.fdatasync - before, used, "nothing dirty, no fdatasync");
    await s.close();

    const off = countingFs();
    const q = await FileStorage.open(freshDir(), { fs: off, fsync: false });
    q.append(ents(1, 3, 1));
    await q.sync();
    assert.equal(off.counts.fdatasync, 0);
    assert.equal(off.counts.fsyncDir, 0);
    await q.close();
  });

  it("poisons itself after a failed fsync", async () => {
    const cfs = countingFs();
    let broken = false;
    const fdatasync = (fd: number) => (broken ? Promise.reject(new Error("EIO")) : cfs.fdatasync(fd));
    const s = await FileStorage.open(freshDir(), { fs: { ...cfs, fdatasync } });
    broken = true;
    s.append(ents(1, 1, 1));
    await assert.rejects(s.sync(), /fsync failed/);
    assert.throws(() => s.append(ents(2, 2, 1)), /fsync failed/);
  });
});
