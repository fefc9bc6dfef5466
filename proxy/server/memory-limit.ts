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
 * How `workers: N` splits the container's memory. The primary serves no request (it keeps Raft,
 * the admin API and the workers' metrics): an even share left it hundreds of MB it never used
 * while the workers, which hold the traffic, shed with the container far from full (memory.max
 * 2 GiB, 2 workers: 683 MB each, the primary idle at ~110 MB: a third of the container unused).
 * It keeps `primaryReserve` (PRIMARY_RESERVE_FACTOR times its own RSS before the workers start;
 * never more than an even share), and the workers split the rest evenly.
 */
export interface WorkerSplit {
  role: "primary" | "worker";
  workers: number;
  primaryReserve: number;
}

/**
 * The primary's reserve over its footprint before the workers start (measured: 103 MB then, 107-113
 * MB idle with 2 workers running): room for its Raft log, state and the workers' scrapes to grow,
 * with its usage near half its budget, far under shedAt (with 1.5 it sat at 0.7).
 */
export const PRIMARY_RESERVE_FACTOR = 2;

/** The primary's reserve from its RSS before the workers start (bytes). */
export function primaryReserve(rss: number): number {
  return Math.ceil(rss * PRIMARY_RESERVE_FACTOR);
}

/** This process's share of `cgroup` bytes: all of it alone, else its part of the split. */
export function shareOf(cgroup: number, split: WorkerSplit | undefined): number {
  if (split === undefined || split.workers < 1) return cgroup;
  const primary = Math.min(split.primaryReserve, Math.floor(cgroup / (split.workers + 1)));
  return split.role === "primary" ? primary : Math.floor((cgroup - primary) / split.workers);
}

/**
 * The budget: `configured` when set; else this process's share of memory.max (with workers: N
 * every worker and the primary live in the same container: `split`); else V8's heap limit.
 */
export function resolveMemoryLimit(
  configured: number | undefined,
  split?: WorkerSplit,
  cgroupPath = CGROUP_MEMORY_MAX,
): MemoryLimit {
  if (configured !== undefined) return { bytes: configured, source: "config" };
  const cgroup = readCgroupMax(cgroupPath);
  if (cgroup !== null) return { bytes: shareOf(cgroup, split), source: "cgroup" };
  return { bytes: getHeapStatistics().heap_size_limit, source: "v8-heap" };
}

/**
 * A limits.memory above this process's share of the cgroup's memory.max: the OOM killer ends
 * the process before it sheds. With workers: N the share is a worker's (limits.memory applies to
 * each process, and the primary's use stays within its reserve). The text of a warning, or null
 * when consistent (or no cgroup).
 */
export function budgetAboveCgroup(
  configured: number | undefined,
  split?: WorkerSplit,
  cgroupPath = CGROUP_MEMORY_MAX,
): string | null {
  if (configured === undefined) return null;
  const cgroup = readCgroupMax(cgroupPath);
  if (cgroup === null) return null;
  const share = shareOf(cgroup, split === undefined ? undefined : { ...split, role: "worker" });
  if (configured <= share) return null;
  const mb = (n: number) => `${Math.round(n / 1048576)} MB`;
  const of =
    split === undefined
      ? ""
      : ` for each of ${split.workers} workers beside the primary's ${mb(shareOf(cgroup, { ...split, role: "primary" }))}`;
  return `limits.memory (${mb(configured)}) is above this process's share of the container's memory limit (${mb(share)} of memory.max ${mb(cgroup)}${of}): the OOM killer would end it before it sheds; lower limits.memory or leave it unset`;
}
