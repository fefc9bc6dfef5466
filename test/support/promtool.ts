// `promtool check metrics` over an exposition text: its exit code and everything it printed.

import { execFile } from "node:child_process";

export function promtoolCheckMetrics(text: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile("promtool", ["check", "metrics"], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      // No exit code: promtool could not run (missing, killed by the timeout).
      if (err !== null && typeof err.code !== "number") reject(err);
      else resolve({ code, out: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}
