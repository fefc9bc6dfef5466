// An in-memory file system with a page cache, under the real FileStorage: writes, truncations
// and directory changes reach the "cache" at once and the "disk" only through fdatasync (file
// contents) and fsyncDir (names). It records an image after every operation, so a test can
// crash the store at EVERY step of an operation: a process crash (kill -9) keeps the cache; a
// power loss keeps only what was synced, optionally with a torn prefix of an unsynced append.
// Concurrently issued fdatasyncs complete in reverse order when `reorderSyncs` is set (two
// syncs in flight may finish in any order on a real disk).
// A "powerReordered" loss is the kernel's background writeback caught at a random instant:
// each file's unsynced data may have reached the disk or not, up to any byte, independently
// of every other file (so a later write to one file can be on disk while an earlier one to
// another is not), and the directory operations since the last directory fsync reached it
// as a prefix of their order (a journaling file system commits metadata in order).
// The driver simulator (test/raft/sim/driver-sim.ts) injects `defer` (when a sync completes,
// on its own clock) and `beforeOp` (which may throw to kill the process just before any
// operation), and takes the crash image of the current instant with image().
import type { StorageFs } from "../../config/raft/storage/index.js";

interface MemFile {
  data: Buffer;
  synced: Buffer;
}

/** What survives a crash at one instant: path -> contents. */
export type Image = Map<string, Buffer>;

export type CrashImageKind = "process" | "power" | "powerTorn" | "powerReordered";

/** A directory operation not yet made durable by a directory fsync. */
type DirOp =
  | { readonly op: "create"; readonly path: string; readonly file: MemFile }
  | { readonly op: "unlink"; readonly path: string }
  | { readonly op: "rename"; readonly from: string; readonly to: string };

export interface Step {
  op: string;
  /** kill -9: everything the process handed to the kernel. */
  process: Image;
  /** Power loss: only synced data and names. */
  power: Image;
  /** Power loss, with every unsynced append torn half-way. */
  powerTorn: Image;
}

export class MemFs implements StorageFs {
  private readonly files = new Map<string, MemFile>();
  private durable = new Map<string, MemFile>();
  /** Directory operations since the last directory fsync, in order. */
  private dirOps: DirOp[] = [];
  private readonly fds = new Map<number, MemFile>();
  private nextFd = 3;
  private pendingSyncs: { file: MemFile; resolve: () => void }[] = [];
  readonly steps: Step[] = [];
  recording = false;
  reorderSyncs = false;
  /** The n-th fdatasync from now on (1-based) fails with EIO; 0 = never. */
  failSyncAt = 0;
  /** Writes that would grow the total size past this fail with ENOSPC; 0 = unlimited. */
  capacityBytes = 0;
  private syncs = 0;
  /** Schedules a sync's completion (default: the next turn of the event loop). */
  defer: (fn: () => void) => void = (fn) => {
    setImmediate(fn);
  };
  /** Called before every operation with its name; throwing aborts it (a crash at that instant). */
  beforeOp: ((op: string) => void) | null = null;

  /** A fresh fs holding `image` as fully synced files. */
  static fromImage(image: Image): MemFs {
    const m = new MemFs();
    for (const [p, b] of image) {
      const f = { data: Buffer.from(b), synced: Buffer.from(b) };
      m.files.set(p, f);
      m.durable.set(p, f);
    }
    return m;
  }

  /**
   * What a crash now leaves on disk: kill -9 keeps the page cache, power loss only synced data
   * ("powerReordered": plus any writeback that happened, drawn with `random`).
   */
  image(kind: CrashImageKind, random: () => number = unseeded): Image {
    const out: Image = new Map();
    if (kind === "process") {
      for (const [p, f] of this.files) out.set(p, Buffer.from(f.data));
      return out;
    }
    if (kind === "powerReordered") return this.writebackImage(random);
    for (const [p, f] of this.durable) {
      const appended =
        f.data.length > f.synced.length && f.data.subarray(0, f.synced.length).equals(f.synced);
      const torn =
        kind === "powerTorn" && appended
          ? f.data.subarray(0, f.synced.length + Math.ceil((f.data.length - f.synced.length) / 2))
          : f.synced;
      out.set(p, Buffer.from(torn));
    }
    return out;
  }

  private writebackImage(random: () => number): Image {
    const names = new Map(this.durable);
    const k = Math.floor(random() * (this.dirOps.length + 1));
    for (const d of this.dirOps.slice(0, k)) {
      if (d.op === "create") names.set(d.path, d.file);
      else if (d.op === "unlink") names.delete(d.path);
      else {
        const f = names.get(d.from);
        names.delete(d.from);
        if (f !== undefined) names.set(d.to, f);
      }
    }
    const out: Image = new Map();
    for (const [p, f] of names) {
      const appended =
        f.data.length > f.synced.length && f.data.subarray(0, f.synced.length).equals(f.synced);
      let b = f.synced;
      if (appended)
        b = f.data.subarray(
          0,
          f.synced.length + Math.floor(random() * (f.data.length - f.synced.length + 1)),
        );
      else if (!f.data.equals(f.synced) && random() < 0.5) b = f.data;
      out.set(p, Buffer.from(b));
    }
    return out;
  }

  private record(op: string): void {
    if (!this.recording) return;
    const process: Image = new Map();
    for (const [p, f] of this.files) process.set(p, Buffer.from(f.data));
    const power: Image = new Map();
    const powerTorn: Image = new Map();
    for (const [p, f] of this.durable) {
      power.set(p, Buffer.from(f.synced));
      const appended =
        f.data.length > f.synced.length && f.data.subarray(0, f.synced.length).equals(f.synced);
      const torn = appended
        ? f.data.subarray(0, f.synced.length + Math.ceil((f.data.length - f.synced.length) / 2))
        : f.synced;
      powerTorn.set(p, Buffer.from(torn));
    }
    this.steps.push({ op, process, power, powerTorn });
  }

  private file(fd: number): MemFile {
    const f = this.fds.get(fd);
    if (f === undefined) throw new Error(`EBADF ${fd}`);
    return f;
  }

  mkdirp(): void {}

  readdir(dir: string): string[] {
    const prefix = `${dir}/`;
    return [...this.files.keys()].filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  }

  readFile(path: string): Buffer {
    const f = this.files.get(path);
    if (f === undefined) throw new Error(`ENOENT ${path}`);
    return Buffer.from(f.data);
  }

  openWrite(path: string): number {
    this.beforeOp?.(`open ${path}`);
    let f = this.files.get(path);
    if (f === undefined) {
      f = { data: Buffer.alloc(0), synced: Buffer.alloc(0) };
      this.files.set(path, f);
      this.dirOps.push({ op: "create", path, file: f });
      this.record(`create ${path}`);
    }
    const fd = this.nextFd++;
    this.fds.set(fd, f);
    return fd;
  }

  private totalBytes(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.data.length;
    return n;
  }

  write(fd: number, buf: Buffer, position: number): void {
    this.beforeOp?.("write");
    const f = this.file(fd);
    const end = position + buf.length;
    if (this.capacityBytes > 0 && this.totalBytes() + Math.max(0, end - f.data.length) > this.capacityBytes) {
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    }
    const next = Buffer.alloc(Math.max(f.data.length, end));
    f.data.copy(next);
    buf.copy(next, position);
    f.data = next;
    this.record(`write ${buf.length}@${position}`);
  }

  ftruncate(fd: number, length: number): void {
    this.beforeOp?.("ftruncate");
    const f = this.file(fd);
    const next = Buffer.alloc(length);
    f.data.copy(next, 0, 0, Math.min(length, f.data.length));
    f.data = next;
    this.record(`ftruncate ${length}`);
  }

  close(fd: number): void {
    this.fds.delete(fd);
  }

  unlink(path: string): void {
    this.beforeOp?.(`unlink ${path}`);
    this.files.delete(path);
    this.dirOps.push({ op: "unlink", path });
    this.record(`unlink ${path}`);
  }

  rename(from: string, to: string): void {
    this.beforeOp?.(`rename ${to}`);
    const f = this.files.get(from);
    if (f === undefined) throw new Error(`ENOENT ${from}`);
    this.files.delete(from);
    this.files.set(to, f);
    this.dirOps.push({ op: "rename", from, to });
    this.record(`rename ${from} ${to}`);
  }

  private syncFile(f: MemFile): void {
    f.synced = Buffer.from(f.data);
  }

  private syncDir(dir: string): void {
    const prefix = `${dir}/`;
    const next = new Map<string, MemFile>();
    for (const [p, f] of this.durable) if (!p.startsWith(prefix)) next.set(p, f);
    for (const [p, f] of this.files) if (p.startsWith(prefix)) next.set(p, f);
    this.durable = next;
    this.dirOps = this.dirOps.filter((d) => !(d.op === "rename" ? d.to : d.path).startsWith(prefix));
  }

  fdatasync(fd: number): Promise<void> {
    this.beforeOp?.("fdatasync");
    const file = this.file(fd);
    if (this.failSyncAt > 0 && ++this.syncs === this.failSyncAt) {
      // The kernel may have dropped the dirty pages: nothing of this file is known to be durable.
      return Promise.reject(Object.assign(new Error("EIO: fsync failed"), { code: "EIO" }));
    }
    return new Promise<void>((resolve) => {
      this.pendingSyncs.push({ file, resolve });
      if (this.pendingSyncs.length === 1) {
        this.defer(() => {
          const batch = this.pendingSyncs;
          this.pendingSyncs = [];
          if (this.reorderSyncs) batch.reverse();
          for (const s of batch) {
            this.syncFile(s.file);
            this.record("fdatasync");
            s.resolve();
          }
        });
      }
    });
  }

  async fsyncDir(dir: string): Promise<void> {
    this.beforeOp?.("fsyncDir");
    await new Promise<void>((r) => this.defer(r));
    this.syncDir(dir);
    this.record("fsyncDir");
  }

  fsyncDirSync(dir: string, durable: boolean): void {
    this.beforeOp?.("fsyncDirSync");
    if (!durable) return;
    this.syncDir(dir);
    this.record("fsyncDirSync");
  }

  fdatasyncSync(fd: number, durable: boolean): void {
    this.beforeOp?.("fdatasyncSync");
    if (!durable) return;
    this.syncFile(this.file(fd));
    this.record("fdatasyncSync");
  }
}

/** The default `random` of image(): "powerReordered" must be given a seeded one (test/support/prng.ts). */
function unseeded(): number {
  throw new Error('a "powerReordered" image needs a seeded random (test/support/prng.ts)');
}
