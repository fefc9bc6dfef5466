// The file-system operations the log store uses, behind an interface so tests can count
// fsyncs (and inject failures) without timing anything. Writes are synchronous (they only
// reach the page cache and are cheap); the durability barriers are asynchronous so the event
// loop keeps serving the network while the disk flushes.
import * as fs from "node:fs";
import { isNoDescriptor } from "./no-descriptor.js";

export interface StorageFs {
  mkdirp(dir: string): void;
  readdir(dir: string): string[];
  readFile(path: string): Buffer;
  /** Opens for appending writes at an explicit position; creates the file if missing. */
  openWrite(path: string): number;
  write(fd: number, buf: Buffer, position: number): void;
  ftruncate(fd: number, length: number): void;
  close(fd: number): void;
  unlink(path: string): void;
  rename(from: string, to: string): void;
  /** Flushes a file's data (and the metadata needed to read it back). */
  fdatasync(fd: number): Promise<void>;
  /** Makes creations, renames and deletions inside `dir` durable. */
  fsyncDir(dir: string): Promise<void>;
  /** Blocking variant, used only on the rare path where ordering must hold before returning. */
  fsyncDirSync(dir: string, durable: boolean): void;
  /** Blocking fdatasync, for the same rare paths (a conflict truncation's hard-state guard). */
  fdatasyncSync(fd: number, durable: boolean): void;
  /**
   * Whether the file open as `fd` still has a name. A data directory removed under a running
   * instance leaves its open segment writable but nameless: every write and fsync succeeds,
   * and nothing written survives a restart. Optional (absent = not checked).
   */
  linked?(fd: number): boolean;
}

function promisifyFd(op: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void, fd: number) {
  return new Promise<void>((resolve, reject) => {
    op(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/** How long a group commit waits for a descriptor to fsync the directory before giving up. */
const DESCRIPTOR_WAIT_MS = 30_000;

/**
 * Opens `dir` to fsync it. At the descriptor limit open(2) fails before anything reached the
 * disk: nothing is lost or unknown (unlike a failed fsync), so the group commit waits for a
 * descriptor (client connections closing), bounded, instead of declaring the storage unusable
 * and stopping Raft until a restart. Past the bound, the error goes up as before.
 */
async function openDirForSync(dir: string): Promise<number> {
  // Monotonic: a wall-clock step must neither end the wait at once nor stretch it.
  const deadline = performance.now() + DESCRIPTOR_WAIT_MS;
  for (let pause = 5; ; pause = Math.min(pause * 2, 250)) {
    try {
      return fs.openSync(dir, "r");
    } catch (err) {
      if (!isNoDescriptor(err) || performance.now() >= deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, pause));
  }
}

export const nodeStorageFs: StorageFs = {
  linked(fd) {
    return fs.fstatSync(fd).nlink > 0;
  },
  mkdirp(dir) {
    fs.mkdirSync(dir, { recursive: true });
  },
  readdir(dir) {
    return fs.readdirSync(dir);
  },
  readFile(path) {
    // Opened without blocking and checked before it is read: a FIFO left in the data directory
    // (under a log's, a snapshot's or identity.json's name) blocked readFileSync in open(2) on
    // the main thread, and `start` hung for good, SIGTERM included. (config/file/bounded-read.ts
    // does the same for the files outside the data directory; config/raft imports nothing.)
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile())
        throw Object.assign(
          new Error(
            `${path}: not a regular file (${st.isFIFO() ? "a FIFO" : st.isDirectory() ? "a directory" : "a special file"})`,
          ),
          {
            code: "ENOTREG",
          },
        );
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  openWrite(path) {
    return fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
  },
  write(fd, buf, position) {
    let off = 0;
    while (off < buf.length) {
      off += fs.writeSync(fd, buf, off, buf.length - off, position + off);
    }
  },
  ftruncate(fd, length) {
    fs.ftruncateSync(fd, length);
  },
  close(fd) {
    fs.closeSync(fd);
  },
  unlink(path) {
    fs.unlinkSync(path);
  },
  rename(from, to) {
    fs.renameSync(from, to);
  },
  fdatasync(fd) {
    return promisifyFd(fs.fdatasync, fd);
  },
  async fsyncDir(dir) {
    const fd = await openDirForSync(dir);
    try {
      await promisifyFd(fs.fsync, fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  fsyncDirSync(dir, durable) {
    if (!durable) return;
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  fdatasyncSync(fd, durable) {
    if (durable) fs.fdatasyncSync(fd);
  },
};

/** Wraps a StorageFs and counts its durability barriers (used by tests and metrics). */
export function countingFs(inner: StorageFs = nodeStorageFs): StorageFs & {
  counts: { fdatasync: number; fsyncDir: number; writes: number };
} {
  const counts = { fdatasync: 0, fsyncDir: 0, writes: 0 };
  return {
    ...inner,
    counts,
    write(fd, buf, position) {
      counts.writes++;
      inner.write(fd, buf, position);
    },
    fdatasync(fd) {
      counts.fdatasync++;
      return inner.fdatasync(fd);
    },
    fsyncDir(dir) {
      counts.fsyncDir++;
      return inner.fsyncDir(dir);
    },
    fsyncDirSync(dir, durable) {
      if (durable) counts.fsyncDir++;
      inner.fsyncDirSync(dir, durable);
    },
    fdatasyncSync(fd, durable) {
      if (durable) counts.fdatasync++;
      inner.fdatasyncSync(fd, durable);
    },
  };
}
