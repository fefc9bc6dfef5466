// The hard-state guard file `hardstate`: one CRC-framed hard-state record, replaced atomically
// (temp file, fdatasync, rename, directory fsync) right BEFORE anything destroys WAL records
// (a conflict truncation cuts a segment and unlinks newer ones, which removes every hard-state
// record written after the cut, including a vote just given). Recovery merges it with the last
// hard state found in the WAL, so the durable term and vote never go backwards whatever instant
// the process dies or the power fails.
import type { HardState } from "../types.js";
import { StorageCorruptError } from "./errors.js";
import { checkRecord, frameRecord } from "./record.js";
import type { StorageFs } from "./storage-fs.js";
import { decodePayload, encodeHardState } from "./wal-codec.js";

export const HARD_STATE_FILE = "hardstate";

/** Writes `hs` durably (blocking: the caller is about to destroy records and must not run ahead). */
export function writeHardStateFileSync(fs: StorageFs, dir: string, hs: HardState, durable: boolean): void {
  const tmp = `${dir}/${HARD_STATE_FILE}.tmp`;
  const fd = fs.openWrite(tmp);
  try {
    fs.ftruncate(fd, 0);
    fs.write(fd, frameRecord(encodeHardState(hs)), 0);
    fs.fdatasyncSync(fd, durable);
  } finally {
    fs.close(fd);
  }
  fs.rename(tmp, `${dir}/${HARD_STATE_FILE}`);
  fs.fsyncDirSync(dir, durable);
}

/** The guarded hard state, or null when the file does not exist. */
export function readHardStateFile(fs: StorageFs, dir: string, names: readonly string[]): HardState | null {
  if (!names.includes(HARD_STATE_FILE)) return null;
  const buf = fs.readFile(`${dir}/${HARD_STATE_FILE}`);
  const r = checkRecord(buf, 0, buf.length);
  // Written via rename only after an fdatasync: a bad file is corruption, never a torn write.
  if (!r.ok) throw new StorageCorruptError(HARD_STATE_FILE, 0, r.reason);
  const rec = decodePayload(buf, r.payloadStart, r.end);
  if (typeof rec === "string") throw new StorageCorruptError(HARD_STATE_FILE, 0, rec);
  if (rec.kind !== "hardState") throw new StorageCorruptError(HARD_STATE_FILE, 0, "not a hard state");
  return rec.hardState;
}

/**
 * The newest of two hard states. Terms only grow; within one term a vote, once given, is never
 * withdrawn; the commit index only grows. So the merge takes the higher term (with its vote),
 * and the larger commit index of the two.
 */
export function newerHardState(a: HardState | null, b: HardState | null): HardState | null {
  if (a === null) return b;
  if (b === null) return a;
  const commit = Math.max(a.commit, b.commit);
  if (a.term !== b.term) {
    const hi = a.term > b.term ? a : b;
    return { term: hi.term, vote: hi.vote, commit };
  }
  return { term: a.term, vote: a.vote !== "" ? a.vote : b.vote, commit };
}
