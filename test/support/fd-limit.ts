// A running process's descriptor limit, lowered from outside with util-linux `prlimit`
// (present on Linux hosts and in the test image), and its open descriptors read from /proc:
// the outside tries of an instance that runs out of its own descriptors (fd-limit-*.test.ts).

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync } from "node:fs";

/** Why the descriptor tests cannot run here, or null when they can (Linux /proc and prlimit). */
export function fdLimitUnavailable(): string | null {
  if (process.platform !== "linux") return "needs Linux /proc";
  const r = spawnSync("prlimit", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? null : "util-linux prlimit is not installed";
}

/** The descriptor numbers `pid` holds open now. */
function fdNumbers(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`).map(Number);
}

/** The highest descriptor number `pid` holds open now. */
export function highestFd(pid: number): number {
  return Math.max(...fdNumbers(pid));
}

/**
 * Descriptor numbers below `limit` that `pid` has free: RLIMIT_NOFILE bounds the numbers, not
 * the count, so a process holding `limit` descriptors (some numbered above it, opened before
 * the limit was lowered) may still open one in a hole below. 0: the next socket() is EMFILE.
 */
export function freeBelow(pid: number, limit: number): number {
  let used = 0;
  for (const n of fdNumbers(pid)) if (n < limit) used++;
  return limit - used;
}

/** Sets the soft RLIMIT_NOFILE of `pid` (its hard limit stays, so it can be raised again). */
export function setSoftFdLimit(pid: number, soft: number): void {
  execFileSync("prlimit", ["--pid", String(pid), `--nofile=${soft}:`], { stdio: "pipe" });
}

/** Bounds the descriptors takeEveryFd opens. */
const MAX_TAKEN = 4_096;

/**
 * Lowers this process's soft limit to `headroom` numbers above its highest descriptor and opens
 * /dev/null until open(2) fails with EMFILE. The descriptors go into `taken` as they are opened,
 * so the caller's cleanup (closeAll) closes them even if this throws halfway.
 */
export function takeEveryFd(taken: number[], headroom = 32): void {
  setSoftFdLimit(process.pid, highestFd(process.pid) + 1 + headroom);
  for (;;) {
    assert.ok(taken.length < MAX_TAKEN, `took ${taken.length} descriptors without reaching the limit`);
    try {
      taken.push(openSync("/dev/null", "r"));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, "EMFILE", String(err));
      return;
    }
  }
}

/** Closes and forgets every descriptor in `taken` (takeEveryFd's); safe to call twice. */
export function closeAll(taken: number[]): void {
  for (const fd of taken.splice(0)) closeSync(fd);
}
