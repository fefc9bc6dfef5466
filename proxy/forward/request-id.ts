// Request ids: an incoming x-request-id is propagated when it looks sane; otherwise one is
// generated as "<process prefix>-<counter in base 36>": unique per process without a
// syscall or random bytes per request, and the random prefix keeps instances apart.

import { randomBytes } from "node:crypto";

const PREFIX = randomBytes(6).toString("hex");
let counter = 0;

// The counter's base-36 text without a number-to-radix conversion per request (a runtime call,
// 100-200 ns): its last two digits come from a table, the rest is converted once per 1,296
// ids. The text is exactly counter.toString(36).
const DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz";
const LOW: string[] = [];
for (let i = 0; i < 36 * 36; i++) LOW.push(DIGITS[Math.floor(i / 36)] + DIGITS[i % 36]);
let high = -1;
let head = "";

/** The id of `n` (at least 1,296) as a concatenation: head + its last two digits. */
function idText(n: number): string {
  const h = Math.floor(n / 1296);
  if (h !== high) {
    high = h;
    head = `${PREFIX}-${h.toString(36)}`;
  }
  return head + LOW[n % 1296];
}

// Ids are handed out as slices of one flat string holding the 36 ids that differ only in their
// last digit. A concatenated id (16+ characters) is a V8 cons string, which every RegExp test
// flattens first (a copy): undici tests each request header value with one, and the id is also
// compared, echoed and logged. A slice of a flat string is read in place: made and tested as
// undici does, ~65 against ~105 ns (`npm run bench -- engine-micro`). 36 ids a block keep what a
// long-lived request's id holds on to at one block (~0.6 KB).
const BLOCK = 36;
const parts: string[] = new Array<string>(BLOCK).fill("");
let blockBase = -1;
let block = "";
let width = 0;

export function newRequestId(): string {
  counter = counter === Number.MAX_SAFE_INTEGER ? 1 : counter + 1;
  // Below 1,296 the text has no leading zero: the plain conversion (the first ids only).
  if (counter < 1296) return `${PREFIX}-${counter.toString(36)}`;
  const last = counter % BLOCK;
  const base = counter - last;
  if (base !== blockBase) {
    blockBase = base;
    // The ids base..base+35 share all but their last base-36 digit.
    const stem = idText(base).slice(0, -1);
    width = stem.length + 1;
    for (let k = 0; k < BLOCK; k++) parts[k] = stem + DIGITS[k];
    block = parts.join("");
  }
  return block.slice(last * width, last * width + width);
}

/** Accepts 1..128 visible ASCII characters (no spaces, no controls): safe to log and echo. */
export function isAcceptableRequestId(id: string): boolean {
  const n = id.length;
  if (n === 0 || n > 128) return false;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
