// One contender for test/outside/simultaneous-starts.test.ts: prints "ready" once loaded, reads
// a wall-clock instant (epoch ms) as one line on stdin, waits for it spinning (a timer would
// smear the start over a millisecond or more), takes the data directory's lock, prints the
// outcome as one JSON line, holds a won lock until its stdin closes, then releases it.
// Argv: <dir>. The test sends the instant once every contender of a round said ready, so the
// spin is short and needs no margin for slow starts.

import { type DataDirLock, lockDataDir } from "../../proxy/app/data-dir-lock.js";

const [dir] = process.argv.slice(2);
let line = "";
let lock: DataDirLock | undefined;
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d: string) => {
  if (lock !== undefined) return;
  line += d;
  const nl = line.indexOf("\n");
  if (nl < 0) return;
  const startAt = Number(line.slice(0, nl));
  while (Date.now() < startAt) {
    // spin until the instant
  }
  const r = lockDataDir(dir);
  lock = r;
  process.stdout.write(
    `${JSON.stringify(r.ok ? { ok: true, pid: process.pid } : { ok: false, code: r.code, message: r.message })}\n`,
  );
});
process.stdin.on("end", () => {
  if (lock?.ok) lock.release();
  process.exit(0);
});
process.stdout.write("ready\n");
