// Replays WAL segments on open. Rules:
// - a bad record at the tail of the LAST segment with no valid record after it is a torn write
//   (crash mid-append): it is cut off and reported as a warning. A segment followed only by
//   EMPTY segments counts as the last: a roll creates the new file before the old one's queued
//   records are written, and every segment opens with a hard-state record, so an empty newer
//   segment proves no sync completed after the roll (the torn bytes were never acknowledged);
//   those empty segments are listed in `emptyTail` for removal;
// - any other bad record (a valid one follows it, or it is in an earlier segment), an index gap,
//   or an undecodable payload is corruption: StorageCorruptError naming file and offset.
// Entries at or below the snapshot index are skipped; a record for an index the log already
// holds replaces that suffix (a truncation that was not yet durable when the node crashed).
// When the newest snapshot was INSTALLED from the leader it replaced the whole log: segments
// before the one opening with its marker record are dead (an install interrupted between
// writing the snapshot and unlinking the old segments); they yield their hard state only, and
// are listed in `dead` for removal. Without a marker every segment is dead.
import type { Entry, HardState } from "../types.js";
import { StorageCorruptError } from "./errors.js";
import { checkRecord, validRecordFollows } from "./record.js";
import { decodePayload } from "./wal-codec.js";

const SEGMENT_NAME = /^wal-(\d{10})-(\d{16})\.log$/;

export interface SegmentInfo {
  seq: number;
  firstIndex: number;
  name: string;
  size: number;
}

export function segmentFileName(seq: number, firstIndex: number): string {
  return `wal-${String(seq).padStart(10, "0")}-${String(firstIndex).padStart(16, "0")}.log`;
}

export function parseSegmentName(name: string): { seq: number; firstIndex: number } | null {
  const m = SEGMENT_NAME.exec(name);
  return m ? { seq: Number(m[1]), firstIndex: Number(m[2]) } : null;
}

export interface Replayed {
  entries: Entry[];
  /** Segment seq and byte offset of each entry's record, aligned with `entries`. */
  entSeq: number[];
  entOff: number[];
  hardState: HardState | null;
  segments: SegmentInfo[];
  /** Set when the last segment had a torn tail: cut the file to this length. */
  tornTail: { name: string; offset: number; reason: string } | null;
  /** Empty segments after the torn one: delete them, the torn segment stays the active one. */
  emptyTail: string[];
  /** Segments of a log an installed snapshot replaced: delete them. */
  dead: string[];
}

export function replaySegments(
  names: readonly string[],
  read: (name: string) => Buffer,
  snapIndex: number,
  snapTerm: number,
  maxRecordBytes: number,
  installed = false,
): Replayed {
  const parsed = names
    .map((name) => ({ name, p: parseSegmentName(name) }))
    .filter((x) => x.p !== null)
    .sort((a, b) => (a.p?.seq ?? 0) - (b.p?.seq ?? 0));
  const out: Replayed = {
    entries: [],
    entSeq: [],
    entOff: [],
    hardState: null,
    segments: [],
    tornTail: null,
    emptyTail: [],
    dead: [],
  };
  let live = !installed;
  for (let s = 0; s < parsed.length; s++) {
    const { name, p } = parsed[s];
    if (p === null) continue;
    const buf = read(name);
    // Only on the error path: whether every newer segment is empty (see the rules above).
    const laterEmpty = () => parsed.slice(s + 1).every((x) => read(x.name).length === 0);
    let size = buf.length;
    let at = 0;
    // Entries after a snapshot-index entry whose term disagrees with the snapshot belong to a
    // log the snapshot replaced; applySnapshot always starts a new segment, so skip to its end.
    let diverged = false;
    while (at < buf.length) {
      const r = checkRecord(buf, at, maxRecordBytes);
      if (!r.ok && !live) break; // a dead segment: only its hard state matters, and it is going away
      if (!r.ok) {
        if (!validRecordFollows(buf, at + 1, maxRecordBytes) && laterEmpty()) {
          out.tornTail = { name, offset: at, reason: r.reason };
          out.emptyTail = parsed.slice(s + 1).map((x) => x.name);
          size = at;
          break;
        }
        throw new StorageCorruptError(name, at, r.reason);
      }
      const rec = decodePayload(buf, r.payloadStart, r.end);
      if (typeof rec === "string") {
        if (!live) break;
        throw new StorageCorruptError(name, at, rec);
      }
      if (rec.kind === "hardState") {
        out.hardState = rec.hardState;
      } else if (rec.kind === "marker") {
        if (!live && rec.index === snapIndex && rec.term === snapTerm) live = true;
      } else if (live && !diverged) {
        const e = rec.entry;
        if (e.index === snapIndex && snapIndex > 0 && e.term !== snapTerm) {
          diverged = true;
          out.entries.length = 0;
          out.entSeq.length = 0;
          out.entOff.length = 0;
        } else if (e.index > snapIndex) {
          const first = out.entries.length > 0 ? out.entries[0].index : snapIndex + 1;
          const next = first + out.entries.length;
          if (e.index > next) {
            throw new StorageCorruptError(name, at, `entry index ${e.index} leaves a gap (expected ${next})`);
          }
          const keep = e.index - first;
          if (keep < out.entries.length) {
            out.entries.length = keep;
            out.entSeq.length = keep;
            out.entOff.length = keep;
          }
          out.entries.push(e);
          out.entSeq.push(p.seq);
          out.entOff.push(at);
        }
      }
      at = r.end;
    }
    if (!live) out.dead.push(name);
    else out.segments.push({ seq: p.seq, firstIndex: p.firstIndex, name, size });
    if (out.tornTail !== null) break;
  }
  return out;
}
