// The on-disk record frame shared by WAL segments and snapshot files:
//   u32le payloadLength | u32le crc32c(payload) | payload
// and the scanner that tells a torn tail (crash mid-write) from corruption in the middle.
import { crc32c } from "@node-rs/crc32";

export const RECORD_HEADER_BYTES = 8;

/** Frames `payload` into `out` at `at`; returns the offset after the record. */
export function writeRecord(out: Buffer, at: number, payload: Buffer): number {
  out.writeUInt32LE(payload.length, at);
  out.writeUInt32LE(crc32c(payload), at + 4);
  payload.copy(out, at + RECORD_HEADER_BYTES);
  return at + RECORD_HEADER_BYTES + payload.length;
}

export function frameRecord(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  writeRecord(out, 0, payload);
  return out;
}

export type RecordCheck =
  | { ok: true; payloadStart: number; end: number }
  | {
      ok: false;
      reason: string /** true when the bad bytes run to the end of the buffer */;
      reachesEnd: boolean;
    };

/** Checks the record starting at `at`. Empty payloads are invalid (zero-filled tails read as bad). */
export function checkRecord(buf: Buffer, at: number, maxRecordBytes: number): RecordCheck {
  const remaining = buf.length - at;
  if (remaining < RECORD_HEADER_BYTES) {
    return { ok: false, reason: `short header (${remaining} bytes)`, reachesEnd: true };
  }
  const len = buf.readUInt32LE(at);
  if (len === 0 || len > maxRecordBytes) {
    return { ok: false, reason: `bad record length ${len}`, reachesEnd: false };
  }
  const end = at + RECORD_HEADER_BYTES + len;
  if (end > buf.length) {
    return {
      ok: false,
      reason: `short payload (${len} declared, ${remaining - 8} present)`,
      reachesEnd: true,
    };
  }
  const want = buf.readUInt32LE(at + 4);
  const got = crc32c(buf.subarray(at + RECORD_HEADER_BYTES, end));
  if (want !== got) {
    return { ok: false, reason: "checksum mismatch", reachesEnd: end === buf.length };
  }
  return { ok: true, payloadStart: at + RECORD_HEADER_BYTES, end };
}

/**
 * True if some valid record starts anywhere after `from`. Used only after a bad record, to
 * decide whether it is a torn tail (nothing valid follows) or middle corruption (something
 * does). Cost is paid only on the recovery path.
 */
export function validRecordFollows(buf: Buffer, from: number, maxRecordBytes: number): boolean {
  for (let at = from; at + RECORD_HEADER_BYTES < buf.length; at++) {
    const r = checkRecord(buf, at, maxRecordBytes);
    if (r.ok) return true;
  }
  return false;
}
