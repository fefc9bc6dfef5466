// One process per data directory. Tried from the outside: a second `shardgate start` on the
// same --data-dir started and ran, both appending to one Raft log (two writers: a torn WAL,
// two nodes claiming one identity). Then, with a pid lock file (created exclusively, a stale
// one unlinked and created again), two starts at the same instant on a directory with a stale
// lock could both win: each judged the dead pid stale, the later one unlinked the lock the
// earlier had just made, and both ran.
//
// Now the lock is a kernel lock held by an open descriptor of `dataDir/LOCK` (an open file
// description lock, F_OFD_SETLK, through fs-native-extensions): taking it is one atomic step,
// so of any number of simultaneous starts exactly one wins, and the kernel drops it when the
// holder dies (kill -9, OOM), so a dead process's lock is free with nothing to judge. The file
// also holds the holder's pid, start time and host, for the refusal message and for a holder
// that predates the kernel lock (a live pid there is still respected).
//
// The file is removed at release. A process that opened it just before then may take the lock
// on the removed file: so a taken lock counts only if LOCK still names the locked file
// (same device and inode); otherwise it tries again.

import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import { join } from "node:path";

// fs-native-extensions (holepunch): prebuilt binaries in the npm package (no compiler at
// install), maintained, and its Linux lock is the open-file-description kind: held per open
// descriptor rather than per process, released when that descriptor closes or the process dies.
// Loaded on first use: a platform without a prebuilt binary gets a coded refusal, not a crash.
type NativeLocks = { tryLock(fd: number): boolean };
let native: NativeLocks | undefined;

function nativeLocks(): NativeLocks | string {
  try {
    native ??= createRequire(import.meta.url)("fs-native-extensions") as NativeLocks;
    return native;
  } catch (err) {
    return (err as Error).message;
  }
}

export type DataDirLock =
  | { ok: true; release(): void }
  | {
      ok: false;
      code: "data_dir_locked" | "data_dir_not_writable" | "data_dir_lock_unavailable";
      message: string;
    };

interface Holder {
  pid: number;
  /** /proc/PID/stat's start time (clock ticks since boot): tells a reused pid apart. */
  started: string;
  host: string;
}

function startTimeOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22; the command name (field 2) may hold spaces, so count after its closing paren.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

/** A holder written by a live process other than this one (a shardgate without the kernel lock). */
function aliveElsewhere(h: Holder): boolean {
  if (h.host !== hostname() || h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = startTimeOf(h.pid);
  return now !== "" && h.started !== "" && now === h.started;
}

function readHolder(fileOrFd: string | number): Holder | null {
  try {
    const h = JSON.parse(readFileSync(fileOrFd, "utf8")) as Partial<Holder>;
    if (typeof h.pid !== "number") return null;
    return { pid: h.pid, started: String(h.started ?? ""), host: String(h.host ?? "") };
  } catch {
    return null; // empty (being written by its holder) or torn (a crash while writing it)
  }
}

function sameFile(fd: number, file: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(file);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false; // removed meanwhile
  }
}

function refused(file: string, holder: Holder | null): DataDirLock {
  return {
    ok: false,
    code: "data_dir_locked",
    message:
      holder === null
        ? `being taken by another process (${file}); one shardgate process per data directory`
        : `in use by process ${holder.pid} (${file}); one shardgate process per data directory`,
  };
}

/** Takes `dir`/LOCK for this process; `release` removes it (also done at process exit). */
export function lockDataDir(dir: string): DataDirLock {
  const file = join(dir, "LOCK");
  const me: Holder = { pid: process.pid, started: startTimeOf(process.pid), host: hostname() };
  const locks = nativeLocks();
  if (typeof locks === "string")
    return {
      ok: false,
      code: "data_dir_lock_unavailable",
      message: `no file lock on this platform (fs-native-extensions: ${locks})`,
    };
  for (let tries = 0; tries < 5; tries++) {
    let fd: number;
    try {
      fd = openSync(file, "a+");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, code: "data_dir_not_writable", message: `${file}: ${code}` };
    }
    let locked: boolean;
    try {
      locked = locks.tryLock(fd);
    } catch (err) {
      closeSync(fd);
      return {
        ok: false,
        code: "data_dir_not_writable",
        message: `${file}: lock: ${(err as Error).message}`,
      };
    }
    if (!locked) {
      closeSync(fd);
      return refused(file, readHolder(file));
    }
    if (!sameFile(fd, file)) {
      closeSync(fd); // the holder removed it as we opened it: take the current one
      continue;
    }
    const previous = readHolder(fd);
    if (previous !== null && aliveElsewhere(previous)) {
      closeSync(fd);
      return refused(file, previous);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${JSON.stringify(me)}\n`, 0);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      process.off("exit", release);
      // Removed while still locked, then unlocked by the close: an opener of the removed file
      // finds it is no longer LOCK (sameFile) and opens the current one.
      try {
        unlinkSync(file);
      } catch {
        // already gone
      }
      closeSync(fd);
    };
    process.on("exit", release);
    return { ok: true, release };
  }
  return { ok: false, code: "data_dir_locked", message: `${file}: taken by another process while starting` };
}
