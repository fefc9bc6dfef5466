// JSON text written straight into a byte buffer, for the access log's line: no string, number
// text or template per field and per request. Each writer takes the buffer and the offset to
// write at and returns the offset after what it wrote. The caller guarantees room (at most
// MAX_BYTES_PER_UNIT bytes per UTF-16 unit of every string, FIXED_ROOM for the rest).
//
// The text is exactly what the string path writes (access-log.ts jsonString / intText / msText,
// themselves JSON.stringify's text): plain ASCII values are copied byte by byte in the same
// loop that checks them; a value with a quote, backslash, control character, DEL or anything
// past ASCII (rare in a method, route, member or request id; possible in a path) goes through
// the string path and is UTF-8 encoded as a whole.

/** The most bytes one UTF-16 unit can take: "\u001f" or a lone surrogate's "\udc00" escape. */
export const MAX_BYTES_PER_UNIT = 6;

/** Room for everything but the string fields: constants and up to eight numbers of 25 characters. */
export const FIXED_ROOM = 512;

/** Bytes of an ASCII constant (a key and its punctuation), encoded once. */
export function asciiBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** Copies `src` in: a loop for the short keys (cheaper than a call), TypedArray set (a memmove) past that. */
export function putBytes(b: Uint8Array, at: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 16) b.set(src, at);
  else for (let i = 0; i < n; i++) b[at + i] = src[i];
  return at + n;
}

/**
 * The JSON string literal of `s` up to (not including) `end`. The slow path (anything to
 * escape or past ASCII) is `text(s.slice(0, end))` UTF-8 encoded: JSON.stringify's text.
 */
export function putString(
  b: Buffer,
  at: number,
  s: string,
  end: number,
  text: (s: string) => string,
): number {
  const start = at;
  b[at++] = 0x22;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
      const literal = text(end === s.length ? s : s.slice(0, end));
      return start + b.write(literal, start, "utf8");
    }
    b[at++] = c;
  }
  b[at++] = 0x22;
  return at;
}

/**
 * putString for a request target's path: the JSON string literal of `s` up to its first "?"
 * (the query is never logged), found in the same scan that copies it rather than by an
 * indexOf first. The slow path is putString's, over the path without its query.
 */
export function putPath(b: Buffer, at: number, s: string, text: (s: string) => string): number {
  const start = at;
  b[at++] = 0x22;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3f) break;
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
      const q = s.indexOf("?", i);
      return putString(b, start, s, q < 0 ? n : q, text);
    }
    b[at++] = c;
  }
  b[at++] = 0x22;
  return at;
}

/**
 * How many decimal digits a non-negative safe integer has: compares for the numbers a line
 * holds most (a status, a version, a 32-bit key hash), a loop past 10 digits.
 */
export function digitCount(n: number): number {
  if (n < 10_000) return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : 4;
  if (n < 100_000_000) return n < 100_000 ? 5 : n < 1_000_000 ? 6 : n < 10_000_000 ? 7 : 8;
  if (n < 10_000_000_000) return n < 1_000_000_000 ? 9 : 10;
  let digits = 11;
  for (let p = 1e11; p <= n; p *= 10) digits++;
  return digits;
}

/**
 * The digits of a non-negative safe integer, written from the last one back (no number-to-string
 * conversion). Small integers (status, attempts) take int32 arithmetic; above 2^31 (the key hash)
 * the quotient is floor(n / 10), which is exact for every safe integer (n / 10 < 2^50, where
 * doubles are 1/8 apart or closer, so a tenths fraction never rounds up to the next integer),
 * and the digit n - 10q: no floating-point remainder, which V8 compiles to a call.
 */
function putDigits(b: Uint8Array, at: number, n: number): number {
  let i = at + digitCount(n);
  const end = i;
  while (n > 0x7fffffff) {
    const q = Math.floor(n / 10);
    b[--i] = 0x30 + (n - q * 10);
    n = q;
  }
  let k = n | 0;
  do {
    const q = (k / 10) | 0;
    b[--i] = 0x30 + (k - q * 10);
    k = q;
  } while (k > 0);
  return end;
}

const NULL = asciiBytes("null");

/** Rare number text (fractions, exponents, unsafe integers): String(x), as JSON.stringify writes it. */
function putText(b: Uint8Array, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** A JSON number as JSON.stringify writes it (null for NaN and infinities). */
export function putNumber(b: Uint8Array, at: number, x: number): number {
  if (Number.isSafeInteger(x)) {
    if (x >= 0) return putDigits(b, at, x);
    b[at] = 0x2d;
    return putDigits(b, at + 1, -x);
  }
  if (!Number.isFinite(x)) return putBytes(b, at, NULL);
  return putText(b, at, String(x));
}

/** Milliseconds rounded to microseconds, as access-log.ts msText writes them ("12.345", "0.007"). */
export function putMs(b: Uint8Array, at: number, x: number, text: (x: number) => string): number {
  if (!Number.isFinite(x)) return putBytes(b, at, NULL);
  const us = Math.round(Math.abs(x) * 1000);
  if (us > 0x3fffffff) return putText(b, at, text(x));
  if (x < 0 && us !== 0) b[at++] = 0x2d;
  const frac = us % 1000;
  at = putDigits(b, at, (us - frac) / 1000);
  b[at] = 0x2e;
  b[at + 1] = 0x30 + Math.floor(frac / 100);
  b[at + 2] = 0x30 + (Math.floor(frac / 10) % 10);
  b[at + 3] = 0x30 + (frac % 10);
  return at + 4;
}
