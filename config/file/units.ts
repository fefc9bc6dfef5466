// Durations ("500ms", "2s", "1m30s", or a plain number of milliseconds) and sizes ("16kb",
// or a plain number of bytes), normalized to integers so that every consumer compares
// numbers and never re-parses strings.

import { bad, ok, type Parsed } from "./parsed.js";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
const DURATION_EXPECTED = 'a duration like "500ms", "2s", "1m30s" or a number of milliseconds';

/**
 * The longest delay a Node timer honours (2^31 - 1 ms, about 24.8 days); a longer one fires
 * after 1 ms instead, which would turn a 30-day health-check interval into a busy loop.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Parses a duration to whole milliseconds (fractions are rounded). `max` bounds the result:
 * the default is MAX_TIMER_MS because nearly every duration ends up in a timer.
 */
export function parseDuration(input: unknown, max = MAX_TIMER_MS, min = 0): Parsed<number> {
  const ms = durationMs(input);
  if (ms === undefined) return bad(DURATION_EXPECTED);
  if (ms < min) return bad(`${DURATION_EXPECTED}, at least ${min}ms`);
  return ms <= max ? ok(ms) : bad(`${DURATION_EXPECTED}, at most ${max}ms`);
}

/**
 * A duration typed on a command line. A plain number is refused (except 0): `--drain-timeout
 * 10` read as 10 ms cut every in-flight request at once while the operator meant 10 s, and
 * nothing said so. The config file keeps plain milliseconds (documented, and numbers there are
 * typed on purpose); on a command line the unit is required and the message offers both.
 */
export function parseCliDuration(input: string, max = MAX_TIMER_MS, min = 0): Parsed<number> {
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text) && Number(text) !== 0) {
    return bad(
      `a duration with a unit: "${text}" has none; write "${text}s" for seconds or "${text}ms" for milliseconds`,
    );
  }
  return parseDuration(text, max, min);
}

function durationMs(input: unknown): number | undefined {
  if (typeof input === "number") {
    return Number.isFinite(input) && input >= 0 ? Math.round(input) : undefined;
  }
  if (typeof input !== "string") return undefined;
  const text = input.trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text));
  let total = 0;
  let pos = 0;
  let lastUnit = Number.POSITIVE_INFINITY;
  while (pos < text.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(text);
    if (m === null) return undefined;
    const unit = DURATION_UNITS[m[2]];
    // "1s1m" is almost certainly a typo; require largest unit first, each once.
    if (unit >= lastUnit) return undefined;
    lastUnit = unit;
    total += Number(m[1]) * unit;
    pos = DURATION_PART.lastIndex;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const SIZE_EXPECTED = 'a size like "16kb", "1mb" (1kb = 1024 bytes) or a number of bytes';

/**
 * Parses a size to whole bytes. Units are binary (1kb = 1024 bytes) and case-insensitive.
 * `min` and `max` bound the result for a size that ends up in an API with a range of its own.
 */
export function parseSize(input: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): Parsed<number> {
  const bytes = sizeBytes(input);
  if (bytes === undefined) return bad(SIZE_EXPECTED);
  if (bytes < min) return bad(`${SIZE_EXPECTED}, at least ${min} bytes`);
  return bytes <= max ? ok(bytes) : bad(`${SIZE_EXPECTED}, at most ${max} bytes`);
}

function sizeBytes(input: unknown): number | undefined {
  if (typeof input === "number") return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  if (typeof input !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(input.trim());
  if (m === null) return undefined;
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? "b").toLowerCase()]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
