// Which memory budget the overload guard (overload.ts) measures against, when the config sets
// none (limits.memory): the container's (cgroup v2 memory.max: past it the kernel's OOM killer
// ends the process) when one is set, else V8's heap limit (past it V8 aborts: "JavaScript heap
// out of memory"). Read once at start; a file that cannot be read means "no cgroup limit".

import { readFileSync } from "node:fs";
import { getHeapStatistics } from "node:v8";

export interface MemoryLimit {
  bytes: number;
  /** Where it came from, for the start log line and the README's explanation. */
  source: "config" | "cgroup" | "v8-heap";
}

/** cgroup v2's limit file for this process's group (the container's, under Kubernetes or Docker). */
export const CGROUP_MEMORY_MAX = "/sys/fs/cgroup/memory.max";

/** The limit in memory.max's text, or null for "max" (none) and anything unreadable. */
export function parseCgroupMax(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

function readCgroupMax(path: string): number | null {
  try {
    return parseCgroupMax(readFileSync(path, "latin1"));
  } catch {
    return null;
  }
}

/**
 * The budget: `configured` when set; else memory.max shared among `processes` (with workers: N
 * every worker and the primary live in the same container); else V8's heap limit.
 */
export function resolveMemoryLimit(
  configured: number | undefined,
  processes = 1,
  cgroupPath = CGROUP_MEMORY_MAX,
): MemoryLimit {
  if (configured !== undefined) return { bytes: configured, source: "config" };
  const cgroup = readCgroupMax(cgroupPath);
  if (cgroup !== null) return { bytes: Math.floor(cgroup / Math.max(1, processes)), source: "cgroup" };
  return { bytes: getHeapStatistics().heap_size_limit, source: "v8-heap" };
}

/**
 * A limits.memory above this process's share of the cgroup's memory.max: the OOM killer ends
 * the process before it sheds. The text of a warning, or null when consistent (or no cgroup).
 */
export function budgetAboveCgroup(
  configured: number | undefined,
  processes = 1,
  cgroupPath = CGROUP_MEMORY_MAX,
): string | null {
  if (configured === undefined) return null;
  const cgroup = readCgroupMax(cgroupPath);
  if (cgroup === null) return null;
  const share = Math.floor(cgroup / Math.max(1, processes));
  if (configured <= share) return null;
  const mb = (n: number) => `${Math.round(n / 1048576)} MB`;
  return `limits.memory (${mb(configured)}) is above this process's share of the container's memory limit (${mb(share)} of memory.max ${mb(cgroup)}${processes > 1 ? ` over ${processes} processes` : ""}): the OOM killer would end it before it sheds; lower limits.memory or leave it unset`;
}
