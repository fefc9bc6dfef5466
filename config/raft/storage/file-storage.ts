// The durable Raft log: WAL segments + snapshot files in one directory, with the whole
// uncompacted log mirrored in memory so the core's synchronous reads never touch the disk.
// append/setHardState update memory and queue the encoded records; sync() is the group commit:
// it writes everything queued (one write per contiguous run) and fdatasyncs each dirty file.
// Records are queued rather than written at once because a write into the page that an
// in-flight fdatasync is writing back blocks (stable pages) and would stall the event loop.
import { crc32c } from "@node-rs/crc32";
import { CompactedError, type RaftStorage, UnavailableError } from "../core/index.js";
import type { ConfState, Entry, HardState, RetiredState, Snapshot } from "../types.js";
import { EMPTY_HARD_STATE } from "../types.js";
import { StorageCorruptError, StorageError } from "./errors.js";
import { newerHardState, readHardStateFile, writeHardStateFileSync } from "./hard-state-file.js";
import { isNoDescriptor } from "./no-descriptor.js";
import { frameRecord, RECORD_HEADER_BYTES } from "./record.js";
import { readSnapshotFile, sortedSnapshotFiles, writeSnapshotFile } from "./snapshot-files.js";
import { nodeStorageFs, type StorageFs } from "./storage-fs.js";
import { encodeHardState, encodeSnapshotMarker, entryRecordSize, writeEntryPayload } from "./wal-codec.js";
import { parseSegmentName, replaySegments, type SegmentInfo, segmentFileName } from "./wal-recovery.js";

export interface FileStorageOptions {
  /** fdatasync on sync() and fsync of the directory; default true. Turn off only in tests. */
  fsync?: boolean;
  /** Roll to a new segment once the active one reaches this size; default 64 MiB. */
  segmentBytes?: number;
  /** Records larger than this are treated as corrupt on recovery; default 256 MiB. */
  maxRecordBytes?: number;
  /** Snapshot files kept (newest first); default 2. */
  keepSnapshots?: number;
  fs?: StorageFs;
  /** Called for recoverable findings on open (torn tail cut, temp files removed). */
  onWarning?: (message: string) => void;
}

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
  /** The data directories retired as of the snapshot (absent in one an older version wrote). */
  retired?: RetiredState;
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/** A segment plus how many of its bytes have been written to the file (the rest is queued). */
type Seg = SegmentInfo & { written: number };

interface WriteOp {
  seg: Seg;
  fd: number;
  at: number;
  buf: Buffer;
}

export class FileStorage implements RaftStorage {
  readonly dir: string;
  /** Warnings produced while opening (also passed to onWarning). */
  readonly warnings: string[] = [];
  private readonly fs: StorageFs;
  private readonly durable: boolean;
  private readonly segmentBytes: number;
  private readonly keepSnapshots: number;
  private readonly onWarning: (message: string) => void;

  private snap: Snapshot;
  /** Index/term of the entry just before `ents[0]` (the snapshot's, or the compaction point's). */
  private baseIndex: number;
  private baseTerm: number;
  private ents: Entry[];
  private entSeq: number[];
  private entOff: number[];
  private hs: HardState;

  private segments: Seg[];
  /** The next segment's sequence number is at least this (dead segments may still exist). */
  private minSeq = 1;
  private activeFd = -1;
  /** Encoded records not yet handed to the kernel, in order. */
  private writes: WriteOp[] = [];
  private readonly dirtyFds = new Set<number>();
  private retiringFds: number[] = [];
  private dirDirty = false;
  private flushing: Promise<void> | null = null;
  /** A flush has taken queued records but not handed all of them to the kernel yet (a roll). */
  private flushWritesPending = false;
  private queued: Promise<void> | null = null;
  private failed: Error | null = null;
  private closed = false;

  private constructor(dir: string, opts: FileStorageOptions) {
    this.dir = dir;
    this.fs = opts.fs ?? nodeStorageFs;
    this.durable = opts.fsync ?? true;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.keepSnapshots = Math.max(1, opts.keepSnapshots ?? 2);
    this.onWarning = opts.onWarning ?? (() => {});
    this.snap = { meta: { index: 0, term: 0, conf: EMPTY_CONF }, data: new Uint8Array(0) };
    this.baseIndex = 0;
    this.baseTerm = 0;
    this.ents = [];
    this.entSeq = [];
    this.entOff = [];
    this.hs = EMPTY_HARD_STATE;
    this.segments = [];
  }

  /** Opens (creating if needed) the store in `dir` and recovers it; see wal-recovery.ts. */
  static async open(dir: string, opts: FileStorageOptions = {}): Promise<FileStorage> {
    const s = new FileStorage(dir, opts);
    await s.recover(opts.maxRecordBytes ?? 256 * 1024 * 1024);
    return s;
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.onWarning(message);
  }

  private async recover(maxRecordBytes: number): Promise<void> {
    const fs = this.fs;
    fs.mkdirp(this.dir);
    let names = fs.readdir(this.dir);
    for (const n of names) {
      if (n.endsWith(".tmp")) {
        fs.unlink(`${this.dir}/${n}`);
        this.warn(`removed leftover temp file ${n} (an interrupted snapshot write)`);
      }
    }
    names = names.filter((n) => !n.endsWith(".tmp"));
    const snaps = sortedSnapshotFiles(names);
    let installed = false;
    if (snaps.length > 0) {
      const f = readSnapshotFile(fs, this.dir, snaps[0]);
      this.snap = f.snap;
      installed = f.installed;
      for (const old of snaps.slice(this.keepSnapshots)) fs.unlink(`${this.dir}/${old}`);
    }
    const r = replaySegments(
      names,
      (n) => fs.readFile(`${this.dir}/${n}`),
      this.snap.meta.index,
      this.snap.meta.term,
      maxRecordBytes,
      installed,
    );
    for (const n of r.dead) this.minSeq = Math.max(this.minSeq, (parseSegmentName(n)?.seq ?? 0) + 1);
    for (const n of r.emptyTail) {
      fs.unlink(`${this.dir}/${n}`);
      this.warn(`removed empty segment ${n} after the torn tail of ${r.tornTail?.name}`);
      this.dirDirty = true;
    }
    this.baseIndex = this.snap.meta.index;
    this.baseTerm = this.snap.meta.term;
    this.ents = r.entries;
    this.entSeq = r.entSeq;
    this.entOff = r.entOff;
    this.hs = newerHardState(r.hardState, readHardStateFile(fs, this.dir, names)) ?? EMPTY_HARD_STATE;
    if (installed && this.hs.commit < this.snap.meta.index)
      this.hs = { ...this.hs, commit: this.snap.meta.index };
    this.segments = r.segments.map((x) => ({ ...x, written: x.size }));
    if (this.hs.commit > this.lastIndex()) {
      const last = this.segments[this.segments.length - 1];
      throw new StorageCorruptError(
        last?.name ?? this.dir,
        last?.size ?? 0,
        `hard state commit ${this.hs.commit} is beyond the last index ${this.lastIndex()} (log lost)`,
      );
    }
    const tail = this.segments[this.segments.length - 1];
    if (tail === undefined) {
      this.startSegment(this.baseIndex + 1);
      if (installed)
        this.writeRaw(frameRecord(encodeSnapshotMarker(this.snap.meta.index, this.snap.meta.term)));
    } else {
      this.activeFd = fs.openWrite(`${this.dir}/${tail.name}`);
      if (r.tornTail !== null) {
        fs.ftruncate(this.activeFd, r.tornTail.offset);
        tail.written = tail.size;
        this.dirtyFds.add(this.activeFd);
        this.warn(
          `truncated torn record at the tail of ${r.tornTail.name} at byte offset ${r.tornTail.offset} (${r.tornTail.reason})`,
        );
      }
    }
    await this.sync();
    if (r.dead.length > 0) {
      // Only now that the new log (its marker and hard state) is durable.
      for (const n of r.dead) fs.unlink(`${this.dir}/${n}`);
      this.dirDirty = true;
      await this.sync();
      this.warn(`removed ${r.dead.length} segment(s) of the log replaced by installed snapshot ${snaps[0]}`);
    }
  }

  // ---- read side (what the core's RaftStorage reads) ----

  initialState(): InitialState {
    return { hardState: this.hs, confState: this.snap.meta.conf, retired: this.snap.meta.retired };
  }

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.baseIndex + this.ents.length;
  }

  /** Term of entry `i`; the entry just before firstIndex() is known too (snapshot/compaction point). */
  term(i: number): number {
    if (i === this.baseIndex) return this.baseTerm;
    if (i < this.baseIndex) throw new CompactedError(i, this.baseIndex + 1);
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    return this.ents[i - this.baseIndex - 1].term;
  }

  /** Entries [lo, hi), at most `maxBytes` of data (but always at least one entry). */
  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo <= this.baseIndex) throw new CompactedError(lo, this.baseIndex + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    if (lo > hi) throw new StorageError("STORAGE_BAD_ARGUMENT", `entries(${lo}, ${hi}): lo > hi`);
    const start = lo - this.baseIndex - 1;
    let end = hi - this.baseIndex - 1;
    if (maxBytes !== Number.POSITIVE_INFINITY) {
      let size = 0;
      for (let k = start; k < end; k++) {
        size += this.ents[k].data.length;
        if (size > maxBytes && k > start) {
          end = k;
          break;
        }
      }
    }
    return this.ents.slice(start, end);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  hardState(): HardState {
    return this.hs;
  }

  // ---- write side ----

  private check(): void {
    if (this.closed) throw new StorageError("STORAGE_CLOSED", "storage is closed");
    if (this.failed) throw this.failed;
  }

  private activeSegment(): Seg {
    return this.segments[this.segments.length - 1];
  }

  private startSegment(firstIndex: number): void {
    const prev = this.segments[this.segments.length - 1];
    const seq = Math.max(this.minSeq, prev === undefined ? 1 : prev.seq + 1);
    const name = segmentFileName(seq, firstIndex);
    // Opened before anything changes: a failed open (no descriptor left) leaves the store as it was.
    const fd = this.fs.openWrite(`${this.dir}/${name}`);
    if (this.activeFd >= 0) this.retiringFds.push(this.activeFd);
    this.activeFd = fd;
    this.fs.ftruncate(this.activeFd, 0);
    this.segments.push({ seq, firstIndex, name, size: 0, written: 0 });
    this.dirDirty = true;
    // Every segment opens with the current hard state, so dropping older segments never
    // loses the latest one.
    this.writeRaw(frameRecord(encodeHardState(this.hs)));
  }

  private writeRaw(buf: Buffer): number {
    const seg = this.activeSegment();
    const at = seg.size;
    this.writes.push({ seg, fd: this.activeFd, at, buf });
    seg.size += buf.length;
    this.dirtyFds.add(this.activeFd);
    return at;
  }

  /**
   * Appends entries (contiguous, ascending). An entry at an index the log already holds
   * discards the log from that index on (conflict truncation); entries at or below the
   * compaction point are ignored. Durable after the next sync().
   */
  append(entries: readonly Entry[]): void {
    this.check();
    if (entries.length === 0) return;
    let from = 0;
    while (from < entries.length && entries[from].index <= this.baseIndex) from++;
    if (from === entries.length) return;
    for (let k = from + 1; k < entries.length; k++) {
      if (entries[k].index !== entries[k - 1].index + 1) {
        throw new StorageError(
          "STORAGE_BAD_ARGUMENT",
          `append: entries not contiguous at index ${entries[k].index}`,
        );
      }
    }
    const first = entries[from].index;
    if (first > this.lastIndex() + 1) {
      throw new StorageError(
        "STORAGE_BAD_ARGUMENT",
        `append: index ${first} leaves a gap after last index ${this.lastIndex()}`,
      );
    }
    if (first <= this.lastIndex()) this.truncateFrom(first);
    this.rollIfFull(first);

    let bytes = 0;
    for (let k = from; k < entries.length; k++) bytes += RECORD_HEADER_BYTES + entryRecordSize(entries[k]);
    const buf = Buffer.allocUnsafe(bytes);
    const seg = this.activeSegment();
    let at = 0;
    for (let k = from; k < entries.length; k++) {
      const e = entries[k];
      const payloadAt = at + RECORD_HEADER_BYTES;
      const end = writeEntryPayload(buf, payloadAt, e);
      writeRecordInPlace(buf, at, end);
      this.ents.push(e);
      this.entSeq.push(seg.seq);
      this.entOff.push(seg.size + at);
      at = end;
    }
    this.writeRaw(buf);
  }

  /** Drops entries >= index from memory and disk, then rewrites the current hard state. */
  private truncateFrom(index: number): void {
    const k = index - this.baseIndex - 1;
    const seq = this.entSeq[k];
    const off = this.entOff[k];
    // Everything from the cut on is destroyed, including hard-state records written after it
    // (a vote just given to the leader doing this truncation). Make the current hard state
    // durable elsewhere first, so no crash instant can bring back an older term or no vote.
    if (seq !== this.activeSegment().seq || off < this.activeSegment().written) {
      writeHardStateFileSync(this.fs, this.dir, this.hs, this.durable);
    }
    this.ents.length = k;
    this.entSeq.length = k;
    this.entOff.length = k;
    if (seq !== this.activeSegment().seq) {
      // The conflict reaches into an older segment: delete the newer ones before anything new
      // is written, durably, so a crash cannot resurrect them behind the new entries.
      const deadFds = new Set<number>([this.activeFd, ...this.retiringFds]);
      for (const fd of deadFds) {
        this.dirtyFds.delete(fd);
        this.fs.close(fd);
      }
      this.retiringFds = [];
      this.activeFd = -1;
      while (this.activeSegment().seq !== seq) {
        const dead = this.segments.pop() as Seg;
        this.fs.unlink(`${this.dir}/${dead.name}`);
      }
      this.writes = this.writes.filter((w) => w.seg.seq <= seq);
      this.fs.fsyncDirSync(this.dir, this.durable);
      this.activeFd = this.fs.openWrite(`${this.dir}/${this.activeSegment().name}`);
      for (const w of this.writes) w.fd = this.activeFd;
    }
    const seg = this.activeSegment();
    const kept: WriteOp[] = [];
    for (const w of this.writes) {
      if (w.seg !== seg || w.at + w.buf.length <= off) kept.push(w);
      else if (w.at < off) kept.push({ ...w, buf: w.buf.subarray(0, off - w.at) });
    }
    this.writes = kept;
    if (off < seg.written) {
      this.fs.ftruncate(this.activeFd, off);
      seg.written = off;
    }
    seg.size = off;
    this.dirtyFds.add(this.activeFd);
    // The newest hard-state record may have been behind the cut.
    this.writeRaw(frameRecord(encodeHardState(this.hs)));
  }

  setHardState(hs: HardState): void {
    this.check();
    if (hs.term === this.hs.term && hs.vote === this.hs.vote && hs.commit === this.hs.commit) return;
    this.hs = { term: hs.term, vote: hs.vote, commit: hs.commit };
    // A new segment opens with the hard state; else it is appended to the active one.
    if (!this.rollIfFull(this.lastIndex() + 1)) this.writeRaw(frameRecord(encodeHardState(this.hs)));
  }

  /**
   * Starts the next segment once the active one is full; true when it did. With no descriptor
   * left for the new file (EMFILE, ENFILE: the process's limit, not the disk) nothing has
   * changed, so the active segment takes these records too and the roll is tried again on the
   * next write: a full segment is a size target, not a limit, and stopping Raft for it (as a
   * lost disk, until a restart) would turn a passing shortage into an outage.
   */
  private rollIfFull(firstIndex: number): boolean {
    if (this.activeSegment().size < this.segmentBytes) return false;
    try {
      this.startSegment(firstIndex);
      return true;
    } catch (err) {
      if (isNoDescriptor(err)) return false;
      throw err;
    }
  }

  /**
   * Hands every queued record to the kernel now, without an fsync: what it carries survives a
   * process crash (kill -9), not a power loss. Used for a Ready that moves the commit index,
   * before anything it covers is applied. Returns false (writes nothing) during a segment roll:
   * writing now could land before a flush's held-back records and leave a hole, or reach a new
   * segment before the old one is durable; call sync() instead. (A write may briefly wait for
   * a page an in-flight fdatasync is writing back; it is one small record per commit advance.)
   */
  writeNow(): boolean {
    this.check();
    if (this.writes.length === 0) return true;
    // While a flush waits on its fsyncs its records are already in the kernel, so writing now
    // lands after them; only a flush still holding records back (a roll in progress) or a
    // pending roll forbids it.
    if (this.flushWritesPending || this.retiringFds.length > 0 || this.dirDirty) return false;
    const ws = this.writes;
    this.writes = [];
    try {
      this.writeOps(ws);
    } catch (err) {
      throw this.poison("write", err);
    }
    return true;
  }

  /**
   * Group commit: makes every write issued so far durable. Concurrent callers share flushes:
   * while one flush runs, all later callers wait for a single follow-up flush.
   */
  sync(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.flushing !== null) {
      // `flushing` settles only after it has cleared itself, so the follow-up starts fresh.
      if (this.queued === null) {
        const next = () => {
          this.queued = null;
          return this.sync();
        };
        this.queued = this.flushing.then(next, next);
      }
      return this.queued;
    }
    if (
      this.dirtyFds.size === 0 &&
      !this.dirDirty &&
      this.retiringFds.length === 0 &&
      this.writes.length === 0
    ) {
      return Promise.resolve();
    }
    const p = this.flush();
    const clear = () => {
      this.flushing = null;
    };
    this.flushing = p.then(clear, clear);
    return p;
  }

  /** Hands `ws` (queued records, in order) to the kernel, one write per contiguous run. */
  private writeOps(ws: WriteOp[]): void {
    let i = 0;
    while (i < ws.length) {
      let j = i + 1;
      let bytes = ws[i].buf.length;
      while (j < ws.length && ws[j].fd === ws[i].fd && ws[j].at === ws[j - 1].at + ws[j - 1].buf.length) {
        bytes += ws[j].buf.length;
        j++;
      }
      const buf =
        j === i + 1
          ? ws[i].buf
          : Buffer.concat(
              ws.slice(i, j).map((w) => w.buf),
              bytes,
            );
      this.fs.write(ws[i].fd, buf, ws[i].at);
      ws[i].seg.written = Math.max(ws[i].seg.written, ws[i].at + bytes);
      i = j;
    }
  }

  private poison(what: string, err: unknown): StorageError {
    const e = new StorageError("STORAGE_UNAVAILABLE", `${what} failed, storage is unusable: ${String(err)}`);
    this.failed = e;
    return e;
  }

  private async flush(): Promise<void> {
    this.flushWritesPending = true;
    try {
      await this.flushInner();
    } finally {
      this.flushWritesPending = false;
    }
  }

  private async flushInner(): Promise<void> {
    const active = this.activeFd;
    const all = this.writes;
    this.writes = [];
    // Queued records in segment order (a roll only ever appends to the newest segment), one
    // run per segment; the active segment's run, if any, is the last.
    const runs: WriteOp[][] = [];
    for (const w of all) {
      const run = runs[runs.length - 1];
      if (run !== undefined && run[0].fd === w.fd) run.push(w);
      else runs.push([w]);
    }
    const current =
      runs.length > 0 && runs[runs.length - 1][0].fd === active ? (runs.pop() as WriteOp[]) : [];
    const fds = [...this.dirtyFds];
    this.dirtyFds.clear();
    const retiring = this.retiringFds;
    this.retiringFds = [];
    let dir = this.dirDirty;
    this.dirDirty = false;
    // After a roll, the older segments' tails (and the new files' directory entries) are made
    // durable BEFORE a byte of a newer segment is written: a power loss can then never leave
    // "old segment torn + newer segment non-empty", which recovery has to refuse as corruption.
    // This holds segment by segment: two rolls between group commits (a segment filled by one
    // Ready) queue records for a middle segment, and writing them before the oldest one's tail
    // is durable let background writeback persist the middle one and tear the oldest (seen in
    // the driver simulation, seed 5534: a node that could never restart).
    try {
      if (this.durable) {
        // Dirty older segments with nothing queued (written by writeNow before the roll) are
        // the oldest of all.
        const queued = new Set(runs.map((r) => r[0].fd));
        for (const fd of fds) if (fd !== active && !queued.has(fd)) await this.fs.fdatasync(fd);
      }
      for (const run of runs) {
        try {
          this.writeOps(run);
        } catch (err) {
          throw this.poison("write", err);
        }
        if (this.durable) {
          await this.fs.fdatasync(run[0].fd);
          if (dir) await this.fs.fsyncDir(this.dir);
        }
        dir = false;
      }
      if (this.durable && dir) await this.fs.fsyncDir(this.dir);
    } catch (err) {
      if (err === this.failed) throw err;
      // After a failed fsync the page cache state is unknown: refuse all further writes.
      throw this.poison("fsync", err);
    }
    try {
      this.writeOps(current);
    } catch (err) {
      throw this.poison("write", err);
    } finally {
      this.flushWritesPending = false;
    }
    try {
      if (this.durable && fds.includes(active)) await this.fs.fdatasync(active);
      for (const fd of retiring) this.fs.close(fd);
    } catch (err) {
      throw this.poison("fsync", err);
    }
    // Acknowledged only if it can be read back after a restart: one fstat per group commit.
    if (fds.includes(active) && this.fs.linked !== undefined && !this.fs.linked(active))
      throw this.poison(
        "storage check",
        `the active log segment in ${this.dir} has been deleted (the data directory removed?): nothing written now would survive a restart`,
      );
  }

  /**
   * Persists a snapshot the local state machine took at `snap.meta.index` (<= lastIndex).
   * The log is untouched; call compact() afterwards to drop what the snapshot covers.
   */
  async saveSnapshot(snap: Snapshot): Promise<void> {
    this.check();
    if (snap.meta.index <= this.snap.meta.index) return;
    if (snap.meta.index > this.lastIndex()) {
      throw new StorageError(
        "STORAGE_BAD_ARGUMENT",
        `saveSnapshot: index ${snap.meta.index} beyond last index ${this.lastIndex()}`,
      );
    }
    await writeSnapshotFile(this.fs, this.dir, snap, this.durable);
    this.snap = snap;
    this.pruneSnapshots();
  }

  /**
   * Installs a snapshot received from the leader: it replaces the whole log. Durable on return.
   */
  async applySnapshot(snap: Snapshot): Promise<void> {
    this.check();
    if (snap.meta.index <= this.snap.meta.index) {
      throw new StorageError(
        "STORAGE_BAD_ARGUMENT",
        `applySnapshot: index ${snap.meta.index} is not newer than ${this.snap.meta.index}`,
      );
    }
    await this.sync();
    // Marked as installed: until the new segment's marker is durable, recovery treats every
    // segment as part of the replaced log (see wal-recovery.ts).
    await writeSnapshotFile(this.fs, this.dir, snap, this.durable, true);
    this.snap = snap;
    this.baseIndex = snap.meta.index;
    this.baseTerm = snap.meta.term;
    this.ents = [];
    this.entSeq = [];
    this.entOff = [];
    if (this.hs.commit < snap.meta.index) this.hs = { ...this.hs, commit: snap.meta.index };
    const old = this.segments.slice();
    this.startSegment(snap.meta.index + 1);
    this.writeRaw(frameRecord(encodeSnapshotMarker(snap.meta.index, snap.meta.term)));
    await this.sync();
    for (const seg of old) this.fs.unlink(`${this.dir}/${seg.name}`);
    this.segments = this.segments.slice(old.length);
    this.dirDirty = true;
    await this.sync();
    this.pruneSnapshots();
  }

  /**
   * Drops entries up to `index` (which must be covered by the saved snapshot) from memory and
   * deletes whole segments that hold nothing newer.
   */
  async compact(index: number): Promise<void> {
    this.check();
    if (index <= this.baseIndex) return;
    if (index > this.snap.meta.index) {
      throw new StorageError(
        "STORAGE_BAD_ARGUMENT",
        `compact(${index}): beyond the saved snapshot index ${this.snap.meta.index}`,
      );
    }
    if (index > this.lastIndex()) {
      throw new StorageError(
        "STORAGE_BAD_ARGUMENT",
        `compact(${index}): beyond last index ${this.lastIndex()}`,
      );
    }
    const k = index - this.baseIndex;
    this.baseTerm = this.ents[k - 1].term;
    this.baseIndex = index;
    this.ents = this.ents.slice(k);
    this.entSeq = this.entSeq.slice(k);
    this.entOff = this.entOff.slice(k);
    // Segments strictly before the one holding the first kept entry hold only compacted entries.
    const keepFrom = this.ents.length > 0 ? this.entSeq[0] : this.activeSegment().seq;
    // Queued writes never target a segment older than one holding a kept entry.
    const dead: Seg[] = [];
    while (this.segments.length > 1 && this.segments[0].seq < keepFrom)
      dead.push(this.segments.shift() as Seg);
    if (dead.length > 0) {
      // The newest hard-state record may still be queued for a newer segment while an older one
      // holds the last durable copy: make everything durable before deleting anything.
      await this.sync();
      for (const seg of dead) this.fs.unlink(`${this.dir}/${seg.name}`);
      this.dirDirty = true;
      await this.sync();
    }
  }

  private pruneSnapshots(): void {
    const snaps = sortedSnapshotFiles(this.fs.readdir(this.dir));
    for (const old of snaps.slice(this.keepSnapshots)) this.fs.unlink(`${this.dir}/${old}`);
  }

  /** Segment file names, oldest first (for tests and diagnostics). */
  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failed) await this.sync();
    } finally {
      this.closed = true;
      for (const fd of this.retiringFds) this.fs.close(fd);
      this.retiringFds = [];
      if (this.activeFd >= 0) this.fs.close(this.activeFd);
      this.activeFd = -1;
    }
  }
}

function writeRecordInPlace(buf: Buffer, at: number, end: number): void {
  buf.writeUInt32LE(end - at - RECORD_HEADER_BYTES, at);
  buf.writeUInt32LE(crc32c(buf.subarray(at + RECORD_HEADER_BYTES, end)), at + 4);
}
