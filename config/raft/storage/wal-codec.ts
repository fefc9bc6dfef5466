// Payload encodings of the WAL's records (inside the CRC frame of record.ts):
//   entry:      u8 1 | u8 entryType (0 normal, 1 conf) | u48le term | u48le index | data
//   hard state: u8 2 | u48le term | u48le commit | utf8 vote
//   snapshot marker: u8 3 | u48le index | u48le term (first record of the segment an installed
//   snapshot starts; see wal-recovery.ts)
// 48-bit integers keep the arithmetic in doubles (2^48 entries is far beyond any log here).
import type { Entry, HardState } from "../types.js";

export const KIND_ENTRY = 1;
export const KIND_HARD_STATE = 2;
export const KIND_SNAPSHOT_MARKER = 3;
const ENTRY_FIXED = 14;
const HS_FIXED = 13;

export function entryRecordSize(e: Entry): number {
  return ENTRY_FIXED + e.data.length;
}

/** Writes the entry payload into `out` at `at` and returns the end offset. */
export function writeEntryPayload(out: Buffer, at: number, e: Entry): number {
  out[at] = KIND_ENTRY;
  out[at + 1] = e.type === "conf" ? 1 : 0;
  out.writeUIntLE(e.term, at + 2, 6);
  out.writeUIntLE(e.index, at + 8, 6);
  out.set(e.data, at + ENTRY_FIXED);
  return at + ENTRY_FIXED + e.data.length;
}

export function encodeHardState(hs: HardState): Buffer {
  const vote = Buffer.from(hs.vote, "utf8");
  const out = Buffer.allocUnsafe(HS_FIXED + vote.length);
  out[0] = KIND_HARD_STATE;
  out.writeUIntLE(hs.term, 1, 6);
  out.writeUIntLE(hs.commit, 7, 6);
  vote.copy(out, HS_FIXED);
  return out;
}

export function encodeSnapshotMarker(index: number, term: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  out[0] = KIND_SNAPSHOT_MARKER;
  out.writeUIntLE(index, 1, 6);
  out.writeUIntLE(term, 7, 6);
  return out;
}

export type DecodedRecord =
  | { kind: "entry"; entry: Entry }
  | { kind: "hardState"; hardState: HardState }
  | { kind: "marker"; index: number; term: number };

/** Decodes a CRC-verified payload; returns a reason string when its shape is wrong. */
export function decodePayload(buf: Buffer, start: number, end: number): DecodedRecord | string {
  const kind = buf[start];
  if (kind === KIND_ENTRY) {
    if (end - start < ENTRY_FIXED) return "entry record too short";
    const t = buf[start + 1];
    if (t !== 0 && t !== 1) return `unknown entry type ${t}`;
    // Copy the data out so the segment buffer read at recovery can be released.
    const data = new Uint8Array(end - start - ENTRY_FIXED);
    data.set(buf.subarray(start + ENTRY_FIXED, end));
    return {
      kind: "entry",
      entry: {
        type: t === 1 ? "conf" : "normal",
        term: buf.readUIntLE(start + 2, 6),
        index: buf.readUIntLE(start + 8, 6),
        data,
      },
    };
  }
  if (kind === KIND_HARD_STATE) {
    if (end - start < HS_FIXED) return "hard state record too short";
    return {
      kind: "hardState",
      hardState: {
        term: buf.readUIntLE(start + 1, 6),
        commit: buf.readUIntLE(start + 7, 6),
        vote: buf.toString("utf8", start + HS_FIXED, end),
      },
    };
  }
  if (kind === KIND_SNAPSHOT_MARKER) {
    if (end - start !== 13) return "snapshot marker record has the wrong size";
    return { kind: "marker", index: buf.readUIntLE(start + 1, 6), term: buf.readUIntLE(start + 7, 6) };
  }
  return `unknown record kind ${kind}`;
}
