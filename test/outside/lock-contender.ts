// One contender for test/outside/simultaneous-starts.test.ts: waits (spinning, for a sharp
// start) until the wall-clock instant given, takes the data directory's lock, prints the
// outcome as one JSON line, holds a won lock until its stdin closes, then releases it.
// Argv: <dir> <startAtEpochMs>.

import { lockDataDir } from "../../proxy/app/data-dir-lock.js";

const [dir, at] = process.argv.slice(2);
const startAt = Number(at);
while (Date.now() < startAt) {
  // spin: a timer would smear the start over a millisecond or more
}
const r = lockDataDir(dir);
process.stdout.write(
  `${JSON.stringify(r.ok ? { ok: true, pid: process.pid } : { ok: false, code: r.code, message: r.message })}\n`,
);
process.stdin.resume();
process.stdin.on("end", () => {
  if (r.ok) r.release();
  process.exit(0);
});
