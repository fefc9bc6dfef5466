// A newcomer's shell next to the fleet demo: a PATH with node but no `shardgate` (as in a fresh
// clone before `npm link`), and the demo started on free ports with its banner printed. The
// tests that paste what the README or the banner shows run it through these.

import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { ShardgateChild } from "./shardgate-process.js";

/** node's directory and the system's, nothing else: `shardgate` is not on it. */
export const NO_SHARDGATE_PATH = [dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"].join(":");

/** Runs `script` with `sh -c` on NO_SHARDGATE_PATH (in `cwd`, else this process's directory). */
export function newcomerSh(script: string, cwd?: string): { code: number | null; out: string } {
  const r = spawnSync("sh", ["-c", script], {
    cwd,
    env: { PATH: NO_SHARDGATE_PATH, HOME: process.env.HOME ?? "/tmp" },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * `shardgate demo` on free ports with NO_SHARDGATE_PATH, once its banner is printed (up to
 * "Kill the leader"); resolves with the child and the banner's lines, trimmed. The caller stops it.
 */
export async function startDemo(): Promise<{ demo: ShardgateChild; lines: string[] }> {
  const demo = new ShardgateChild(["demo", "--port", "0", "--admin-port", "0", "--raft-port", "0"], {
    env: { PATH: NO_SHARDGATE_PATH },
  });
  await demo.waitFor(
    "the demo's banner",
    () => (demo.textLines.some((l) => l.startsWith("Kill the leader")) ? true : undefined),
    120_000,
  );
  return { demo, lines: demo.textLines.map((l) => l.trim()) };
}
