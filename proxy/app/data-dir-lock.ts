// One process per data directory. Tried from the outside: a second `shardgate start` on the
// same --data-dir started and ran, both appending to one Raft log (two writers: a torn WAL,
// two nodes claiming one identity). The first process now holds `dataDir/LOCK` (created
// exclusively, holding its pid and the kernel's start time of that pid); a second is refused
// with data_dir_locked naming the holder. A lock whose process is gone (killed with -9, the
// machine rebooted) or whose pid now belongs to another process is stale and taken over.

import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

export type DataDirLock =
  | { ok: true; release(): void }
  | { ok: false; code: "data_dir_locked" | "data_dir_not_writable"; message: string };

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

/** Lock files this process holds (a pid of ours in a file we do not hold: a container restart). */
const heldHere = new Set<string>();

function alive(h: Holder, file: string): boolean {
  if (h.host !== hostname()) return false; // another machine's lock: a copied directory
  if (h.pid === process.pid) return heldHere.has(file);
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = startTimeOf(h.pid);
  return now === "" || h.started === "" || now === h.started;
}

function readHolder(file: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(file, "utf8")) as Partial<Holder>;
    if (typeof h.pid !== "number") return null;
    return { pid: h.pid, started: String(h.started ?? ""), host: String(h.host ?? "") };
  } catch {
    return null; // torn or empty (a crash while writing it): stale
  }
}

/** A lock file written less than JUST_CREATED_MS ago (a writer may still be filling it in). */
const JUST_CREATED_MS = 5_000;

function justCreated(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < JUST_CREATED_MS;
  } catch {
    return false; // gone meanwhile: the next open says who holds it
  }
}

/** Takes `dir`/LOCK for this process; `release` removes it (also done at process exit). */
export function lockDataDir(dir: string): DataDirLock {
  const file = join(dir, "LOCK");
  const me: Holder = { pid: process.pid, started: startTimeOf(process.pid), host: hostname() };
  for (let tries = 0; tries < 2; tries++) {
    let fd: number;
    try {
      fd = openSync(file, "wx");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") return { ok: false, code: "data_dir_not_writable", message: `${file}: ${code}` };
      const holder = readHolder(file);
      if (holder !== null && alive(holder, file))
        return {
          ok: false,
          code: "data_dir_locked",
          message: `in use by process ${holder.pid} (${file}); one shardgate process per data directory`,
        };
      // Unreadable and fresh: another process created it an instant ago and is writing it (the
      // lock is created, then written). Taken for a torn stale lock, it would be removed and
      // both processes would run. Only an unreadable lock older than that is a crash's leftover.
      if (holder === null && justCreated(file))
        return {
          ok: false,
          code: "data_dir_locked",
          message: `being taken by another process (${file}); one shardgate process per data directory`,
        };
      try {
        unlinkSync(file); // stale: its process is gone
      } catch {
        // someone else took it over meanwhile: the next open says who
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(me)}\n`);
    } finally {
      closeSync(fd);
    }
    let held = true;
    heldHere.add(file);
    const release = (): void => {
      if (!held) return;
      held = false;
      heldHere.delete(file);
      process.off("exit", release);
      const h = readHolder(file);
      if (h !== null && h.pid === me.pid && h.started === me.started) {
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      }
    };
    process.on("exit", release);
    return { ok: true, release };
  }
  return { ok: false, code: "data_dir_locked", message: `${file}: taken by another process while starting` };
}
