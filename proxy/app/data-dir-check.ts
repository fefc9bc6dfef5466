// Checks the Raft data directory before anything uses it: it must be a writable directory on
// a filesystem that stores files. Tried from the outside, `--data-dir /proc/x` hung start for
// ever (Node's recursive mkdir loops when mkdir answers ENOENT under an existing parent, as
// procfs does), and a file or an unwritable path surfaced as a raw errno deep in the Raft
// node's start. Here the directory is created one level at a time (never recursively), each
// failure becomes a coded error naming the path, and the whole check has a time bound.

import { constants } from "node:fs";
import { access, lstat, mkdir, open, stat, statfs, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";

export type DataDirCode =
  | "data_dir_pseudo_fs"
  | "data_dir_not_directory"
  | "data_dir_not_writable"
  | "data_dir_cannot_create"
  | "data_dir_unresponsive";

export type DataDirCheck = { ok: true } | { ok: false; code: DataDirCode; message: string };

/** How long the checks may take in all (a dead network mount answers nothing). */
export const DATA_DIR_CHECK_MS = 5_000;

/**
 * Filesystems that hold no files of ours (statfs f_type): procfs and sysfs accept some mkdirs
 * and refuse or fake the rest; a log written there is not on any disk.
 */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x27e0eb, "cgroup"],
  [0x63677270, "cgroup2"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0x1cd1, "devpts"],
  [0x6165676c, "pstore"],
  [0xcafe4a11, "bpf"],
  [0x62656570, "configfs"],
  [0x65735543, "fusectl"],
  [0x19800202, "mqueue"],
  [0x42494e4d, "binfmt_misc"],
  [0xde5e81e4, "efivarfs"],
  [0xf97cff8c, "selinuxfs"],
  [0x6e736673, "nsfs"],
]);

class DataDirError extends Error {
  constructor(
    readonly code: DataDirCode,
    message: string,
  ) {
    super(message);
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** The deepest existing path at or above `dir`, and the missing components below it. */
async function existingAncestor(dir: string): Promise<{ existing: string; missing: string[] }> {
  const missing: string[] = [];
  let at = dir;
  for (;;) {
    try {
      await stat(at);
      return { existing: at, missing };
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") {
        throw new DataDirError(
          errnoOf(err) === "ENOTDIR" ? "data_dir_not_directory" : "data_dir_not_writable",
          `${at}: ${errnoOf(err)}`,
        );
      }
      const up = dirname(at);
      if (up === at) return { existing: at, missing };
      missing.unshift(at);
      at = up;
    }
  }
}

async function checkOnce(dir: string, create: boolean): Promise<void> {
  const { existing, missing } = await existingAncestor(dir);
  const fs = await statfs(existing);
  const pseudo = PSEUDO_FS.get(Number(fs.type));
  if (pseudo !== undefined)
    throw new DataDirError("data_dir_pseudo_fs", `${existing} is on ${pseudo}, which stores no files`);
  if (!(await stat(existing)).isDirectory())
    throw new DataDirError("data_dir_not_directory", `${existing} exists and is not a directory`);
  if (!create) {
    // `validate`: nothing is created; the deepest existing directory must let us create in it.
    await access(existing, constants.W_OK | constants.X_OK).catch((err: unknown) => {
      throw new DataDirError("data_dir_not_writable", `${existing}: ${errnoOf(err)}`);
    });
    return;
  }
  for (const level of missing) {
    await mkdir(level).catch(async (err: unknown) => {
      // Made by someone else meanwhile is fine if it is a directory (checked below).
      if (errnoOf(err) === "EEXIST" && (await lstat(level)).isDirectory()) return;
      throw new DataDirError("data_dir_cannot_create", `mkdir ${level}: ${errnoOf(err)}`);
    });
  }
  // Writable for real (a read-only mount, permissions, a full quota): write, sync, remove a probe.
  const probe = join(dir, `.shardgate-probe-${process.pid}`);
  try {
    const fh = await open(probe, "w");
    try {
      await fh.writeFile("probe\n");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await unlink(probe);
  } catch (err) {
    throw new DataDirError("data_dir_not_writable", `${dir}: cannot write a file in it (${errnoOf(err)})`);
  }
}

/**
 * Checks (and with `create`, makes) the data directory. Never throws; at most `timeoutMs`.
 * A check stuck in the kernel (a dead network mount) still occupies a thread-pool thread.
 */
export async function checkDataDir(
  dir: string,
  opts: { create: boolean; timeoutMs?: number },
): Promise<DataDirCheck> {
  const timeoutMs = opts.timeoutMs ?? DATA_DIR_CHECK_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<DataDirCheck>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ok: false,
          code: "data_dir_unresponsive",
          message: `${dir}: the filesystem did not answer within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
  });
  const checked = checkOnce(dir, opts.create).then(
    (): DataDirCheck => ({ ok: true }),
    (err: unknown): DataDirCheck =>
      err instanceof DataDirError
        ? { ok: false, code: err.code, message: err.message }
        : { ok: false, code: "data_dir_not_writable", message: `${dir}: ${errnoOf(err)}` },
  );
  try {
    return await Promise.race([checked, late]);
  } finally {
    clearTimeout(timer);
  }
}
