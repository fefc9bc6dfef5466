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

export function newRequestId(): string {
  counter = counter === Number.MAX_SAFE_INTEGER ? 1 : counter + 1;
  const h = Math.floor(counter / 1296);
  // Below 1,296 the text has no leading zero: the plain conversion (the first ids only).
  if (h === 0) return `${PREFIX}-${counter.toString(36)}`;
  if (h !== high) {
    high = h;
    head = `${PREFIX}-${h.toString(36)}`;
  }
  return head + LOW[counter % 1296];
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
