// Request ids: an incoming x-request-id is propagated when it looks sane; otherwise one is
// generated as "<process prefix>-<counter in base 36>": unique per process without a
// syscall or random bytes per request, and the random prefix keeps instances apart.

import { randomBytes } from "node:crypto";

const PREFIX = randomBytes(6).toString("hex");
let counter = 0;

export function newRequestId(): string {
  counter = counter === Number.MAX_SAFE_INTEGER ? 1 : counter + 1;
  return `${PREFIX}-${counter.toString(36)}`;
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
