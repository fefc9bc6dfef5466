// Every process a test file spawns dies with that file. node --test ends a file that overruns
// its timeout with SIGTERM, which skips its after() hooks; the shardgate fleets such a file
// started then ran on (seen: two 4-instance fleets still running minutes after ctl and
// fleet-routing timed out), holding ports and CPU that the next files on a 2-core CI runner
// need. A SIGKILL of the test file itself cannot be caught: only that case still leaks.

import type { ChildProcess } from "node:child_process";

const children = new Set<ChildProcess>();
let installed = false;

/** SIGKILLs `child` when this process exits or is told to stop (SIGTERM, SIGINT), unless it exited first. */
export function reapOnExit<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (!installed) {
    installed = true;
    process.once("exit", killAll);
    process.once("SIGTERM", () => stopOn(143));
    process.once("SIGINT", () => stopOn(130));
  }
  return child;
}

function stopOn(code: number): void {
  killAll();
  process.exit(code);
}

function killAll(): void {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  children.clear();
}
