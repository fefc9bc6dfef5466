// A stored response as bytes in Redis: a 4-byte big-endian length, a JSON head (status,
// headers, when stored, age at storage, lifetime, vary, authOk), then the body as is.
// A base key without Vary holds the entry itself; with Vary it holds a marker naming the
// varying headers, and each variant lives under its own key (cache-keys.ts).

import type { OutgoingHttpHeaders } from "node:http";

export interface EntryHead {
  status: number;
  headers: OutgoingHttpHeaders;
  /** Wall-clock ms when stored. */
  storedAt: number;
  /** The response's age (s) when stored. */
  age: number;
  /** Freshness lifetime (s). */
  lifetime: number;
  vary: string[];
  authOk: boolean;
}

export interface CacheEntry {
  head: EntryHead;
  body: Buffer;
}

const VARY_MARKER = Buffer.from("VARY\n");

export function encodeEntry(e: CacheEntry): Buffer {
  const head = Buffer.from(JSON.stringify(e.head), "utf8");
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(head.length, 0);
  return Buffer.concat([len, head, e.body]);
}

/** The entry, or null for bytes that are not one (another version's, corrupt). */
export function decodeEntry(b: Buffer): CacheEntry | null {
  if (b.length < 4) return null;
  const n = b.readUInt32BE(0);
  if (n > b.length - 4) return null;
  try {
    const head = JSON.parse(b.subarray(4, 4 + n).toString("utf8")) as EntryHead;
    if (typeof head.status !== "number" || typeof head.storedAt !== "number") return null;
    return { head, body: b.subarray(4 + n) };
  } catch {
    return null;
  }
}

export function encodeVaryMarker(vary: readonly string[]): Buffer {
  return Buffer.concat([VARY_MARKER, Buffer.from(vary.join(","), "utf8")]);
}

/** The header names of a vary marker, or null when `b` is an entry. */
export function decodeVaryMarker(b: Buffer): string[] | null {
  if (b.length < VARY_MARKER.length || !b.subarray(0, VARY_MARKER.length).equals(VARY_MARKER)) return null;
  return b
    .subarray(VARY_MARKER.length)
    .toString("utf8")
    .split(",")
    .filter((v) => v !== "");
}

/** Seconds since the response was generated upstream, now (never less than the Age it came with). */
export function currentAge(head: EntryHead, nowMs: number): number {
  return head.age + Math.max(0, Math.floor((nowMs - head.storedAt) / 1000));
}

/**
 * How far in the future an entry's stamp may be and still count as stored "now": instances'
 * clocks disagree a little (NTP keeps them within milliseconds). Further ahead, this instance's
 * wall clock stepped back past the store (NTP, a resumed VM, `date -s`), and how long the entry
 * has really been kept is unknown.
 */
export const FUTURE_STAMP_MS = 2_000;

/**
 * Whether the entry may be served without asking the upstream. Ages are wall-clock time (RFC
 * 9111: entries are shared by every instance through Redis, so no one process's monotonic clock
 * will do); an entry stamped more than FUTURE_STAMP_MS after now is not fresh. Otherwise, after a
 * step back, it was served with its Age set back to what it came with, and for the length of the
 * step where Redis's clock stepped too (its expiry times are absolute).
 */
export function isFresh(head: EntryHead, nowMs: number): boolean {
  if (head.storedAt - nowMs > FUTURE_STAMP_MS) return false;
  return currentAge(head, nowMs) < head.lifetime;
}
