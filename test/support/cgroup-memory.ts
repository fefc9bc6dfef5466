// Runs a shardgate under a cgroup v2 memory.max of the test's choosing without creating a
// cgroup: a private mount namespace (unshare -m) with a tmpfs over /sys/fs/cgroup that holds only
// memory.max, the one file of it shardgate reads (proxy/server/memory-limit.ts). The rest of the
// machine sees nothing of it. Needs root (or CAP_SYS_ADMIN) and util-linux's unshare.

import { spawnSync } from "node:child_process";

function script(bytes: number): string {
  return `mount -t tmpfs -o size=64k shardgate-test /sys/fs/cgroup && printf '%s\\n' ${bytes} > /sys/fs/cgroup/memory.max && exec "$0" "$@"`;
}

/** Why a fake memory.max cannot be set up here, or null when it can (tried once, with `true`). */
export function memoryMaxUnavailable(): string | null {
  const r = spawnSync("unshare", ["-m", "sh", "-c", script(1 << 30), "true"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.error !== undefined) return `unshare: ${r.error.message}`;
  if (r.status !== 0) return `unshare -m with a tmpfs over /sys/fs/cgroup failed: ${r.stderr.trim()}`;
  return null;
}

/** The prefix (ShardgateChild's `prefix`) that runs a command with memory.max at `bytes`. */
export function underMemoryMax(bytes: number): string[] {
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new Error(`memory.max must be a positive integer, got ${bytes}`);
  return ["unshare", "-m", "sh", "-c", script(bytes)];
}
