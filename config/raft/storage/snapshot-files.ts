// Snapshot files: `snap-<index>-<term>.snap`, one CRC-framed record holding
//   u8 kind | u48le index | u48le term | u32le confJsonLength | conf JSON | state-machine data.
// kind 3: taken locally (the log agrees with it); kind 4: installed from the leader, it
// REPLACES the log: only WAL records after the matching snapshot marker belong to the new log
// (see wal-recovery.ts), so a crash before the old segments are unlinked resurrects nothing.
// Written atomically (temp file, fdatasync, rename, fsync the directory) so a crash leaves
// either the old snapshot or the new one, never half of one; leftover temp files are removed.
import { withExtras } from "../core/index.js";
import type { ConfState, RetiredState, Snapshot } from "../types.js";
import { StorageCorruptError } from "./errors.js";
import { checkRecord, frameRecord } from "./record.js";
import type { StorageFs } from "./storage-fs.js";

const KIND_SNAPSHOT = 3;
const KIND_INSTALLED_SNAPSHOT = 4;
const FIXED = 17;
const NAME = /^snap-(\d{16})-(\d{16})\.snap$/;

export function snapshotFileName(index: number, term: number): string {
  return `snap-${String(index).padStart(16, "0")}-${String(term).padStart(16, "0")}.snap`;
}

export function isSnapshotFile(name: string): boolean {
  return NAME.test(name);
}

/** Snapshot file names in `names`, newest (highest index) first. */
export function sortedSnapshotFiles(names: readonly string[]): string[] {
  return names.filter(isSnapshotFile).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

export function encodeSnapshot(snap: Snapshot, installed = false): Buffer {
  // incarnations/rejoin/retired only when present: a founder-only snapshot keeps the previous
  // bytes. The retired directories ride in the same object (a version before them ignores the key).
  const c = snap.meta.conf;
  const retired = snap.meta.retired;
  const conf = Buffer.from(
    JSON.stringify({
      voters: c.voters,
      learners: c.learners,
      ...(c.incarnations !== undefined ? { incarnations: c.incarnations } : {}),
      ...(c.rejoin !== undefined ? { rejoin: c.rejoin } : {}),
      ...(retired !== undefined && !isEmptyRetired(retired) ? { retired } : {}),
    }),
  );
  const payload = Buffer.allocUnsafe(FIXED + conf.length + snap.data.length);
  payload[0] = installed ? KIND_INSTALLED_SNAPSHOT : KIND_SNAPSHOT;
  payload.writeUIntLE(snap.meta.index, 1, 6);
  payload.writeUIntLE(snap.meta.term, 7, 6);
  payload.writeUInt32LE(conf.length, 13);
  conf.copy(payload, FIXED);
  payload.set(snap.data, FIXED + conf.length);
  return frameRecord(payload);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function isEmptyRetired(r: RetiredState): boolean {
  return r.retired.length === 0 && r.departed.length === 0 && r.trusted.length === 0;
}

function isRetiredState(v: unknown): v is RetiredState {
  const r = v as RetiredState;
  const tuples = (xs: unknown, ok: (t: unknown[]) => boolean) =>
    Array.isArray(xs) && xs.every((t) => Array.isArray(t) && typeof t[0] === "string" && ok(t));
  return (
    typeof r === "object" &&
    r !== null &&
    tuples(r.retired, (t) => t.length === 2 && isStringArray(t[1])) &&
    tuples(r.departed, (t) => t.length === 3 && isStringArray(t[1]) && typeof t[2] === "string") &&
    tuples(r.trusted, (t) => t.length === 2 && typeof t[1] === "string")
  );
}

export interface SnapshotFile {
  snap: Snapshot;
  /** Installed from the leader: it replaced the log (kind 4). */
  installed: boolean;
}

export function decodeSnapshot(buf: Buffer, file: string): SnapshotFile {
  const r = checkRecord(buf, 0, buf.length);
  if (!r.ok) throw new StorageCorruptError(file, 0, r.reason);
  if (r.end !== buf.length)
    throw new StorageCorruptError(file, r.end, "trailing bytes after snapshot record");
  const p = buf.subarray(r.payloadStart, r.end);
  if (p.length < FIXED || (p[0] !== KIND_SNAPSHOT && p[0] !== KIND_INSTALLED_SNAPSHOT))
    throw new StorageCorruptError(file, 8, "not a snapshot record");
  const confLen = p.readUInt32LE(13);
  if (FIXED + confLen > p.length) throw new StorageCorruptError(file, 8 + 13, "conf length out of range");
  let conf: ConfState;
  let retired: RetiredState | undefined;
  try {
    const parsed = JSON.parse(p.toString("utf8", FIXED, FIXED + confLen)) as {
      voters?: unknown;
      learners?: unknown;
      incarnations?: unknown;
      rejoin?: unknown;
      retired?: unknown;
    };
    if (!isStringArray(parsed.voters) || !isStringArray(parsed.learners)) throw new Error("bad shape");
    const incs = parsed.incarnations;
    if (
      incs !== undefined &&
      (typeof incs !== "object" || incs === null || !Object.values(incs).every((v) => typeof v === "string"))
    )
      throw new Error("bad incarnations");
    if (parsed.rejoin !== undefined && !isStringArray(parsed.rejoin)) throw new Error("bad rejoin");
    if (parsed.retired !== undefined && !isRetiredState(parsed.retired)) throw new Error("bad retired");
    retired = parsed.retired;
    conf = withExtras(
      { voters: parsed.voters, learners: parsed.learners },
      incs as Record<string, string> | undefined,
      parsed.rejoin,
    );
  } catch {
    throw new StorageCorruptError(
      file,
      8 + FIXED,
      "conf state is not {voters: string[], learners: string[], incarnations?, rejoin?, retired?}",
    );
  }
  const data = new Uint8Array(p.length - FIXED - confLen);
  data.set(p.subarray(FIXED + confLen));
  return {
    snap: {
      meta: {
        index: p.readUIntLE(1, 6),
        term: p.readUIntLE(7, 6),
        conf,
        ...(retired !== undefined ? { retired } : {}),
      },
      data,
    },
    installed: p[0] === KIND_INSTALLED_SNAPSHOT,
  };
}

export function readSnapshotFile(fs: StorageFs, dir: string, name: string): SnapshotFile {
  return decodeSnapshot(fs.readFile(`${dir}/${name}`), name);
}

/** Writes `snap` atomically into `dir`; returns the file name. */
export async function writeSnapshotFile(
  fs: StorageFs,
  dir: string,
  snap: Snapshot,
  durable: boolean,
  installed = false,
): Promise<string> {
  const name = snapshotFileName(snap.meta.index, snap.meta.term);
  const tmp = `${dir}/${name}.tmp`;
  const fd = fs.openWrite(tmp);
  try {
    fs.ftruncate(fd, 0);
    fs.write(fd, encodeSnapshot(snap, installed), 0);
    if (durable) await fs.fdatasync(fd);
  } finally {
    fs.close(fd);
  }
  fs.rename(tmp, `${dir}/${name}`);
  if (durable) await fs.fsyncDir(dir);
  return name;
}
