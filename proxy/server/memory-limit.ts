// Which memory budget the overload guard (overload.ts) measures against, when the config sets
// none (limits.memory): the container's (cgroup v2 memory.max: past it the kernel's OOM killer
// ends the process) when one is set, else V8's heap limit (past it V8 aborts: "JavaScript heap
// out of memory"). Read once at start; a file that cannot be read means "no cgroup limit".

import { readFileSync } from "node:fs";
import { getHeapStatistics } from "node:v8";
import { HYSTERESIS } from "./overload.js";

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
 * It keeps `primaryReserve` (PRIMARY_RESERVE_FACTOR times its own RSS once its Raft state is
 * loaded), no more than an even share, but never less than `primaryFloor`: an even share under
 * its idle footprint (memory.max 300 MB, 2 workers: 100 MB against ~105 MB in use) made it
 * refuse from the start, and /readyz stayed 503 for good. The workers split the rest evenly.
 */
export interface WorkerSplit {
  role: "primary" | "worker";
  workers: number;
  primaryReserve: number;
  /** The least the primary runs in without shedding at idle (primaryFloor); 0 = none. */
  primaryFloor: number;
}

/**
 * The primary's reserve over its footprint once its Raft state is loaded (measured: 103 MB then,
 * 107-113 MB idle with 2 workers running): room for its Raft log, state and the workers' scrapes
 * to grow, with its usage near half its budget, far under shedAt (with 1.5 it sat at 0.7).
 */
export const PRIMARY_RESERVE_FACTOR = 2;

/** The primary's reserve from its RSS once its Raft state is loaded (bytes). */
export function primaryReserve(rss: number): number {
  return Math.ceil(rss * PRIMARY_RESERVE_FACTOR);
}

/**
 * How much the primary grows at idle once its workers run (their beats, the states it sends them,
 * the scrapes it gathers): measured 111 MB before they started, 118-123 MB idle after, with 2.
 */
export const PRIMARY_WORKERS_GROWTH = 1.15;

/** The least the primary keeps, from its RSS before the workers start: its idle share once they run. */
export function primaryFloor(rss: number, shedAt: number): number {
  return idleShare(rss * PRIMARY_WORKERS_GROWTH, shedAt);
}

/**
 * The least budget a process holding `rss` at idle runs in without shedding: its usage one
 * hysteresis step (overload.ts) under `shedAt`, so it neither enters an episode at idle nor stays
 * in one it entered at a peak (with shedAt 0.85: RSS / 0.8).
 */
export function idleShare(rss: number, shedAt: number): number {
  return Math.ceil(rss / Math.max(HYSTERESIS, shedAt - HYSTERESIS));
}

/** This process's share of `cgroup` bytes: all of it alone, else its part of the split. */
export function shareOf(cgroup: number, split: WorkerSplit | undefined): number {
  if (split === undefined || split.workers < 1) return cgroup;
  const even = Math.floor(cgroup / (split.workers + 1));
  const primary = Math.min(cgroup, Math.max(split.primaryFloor, Math.min(split.primaryReserve, even)));
  if (split.role === "primary") return primary;
  // A memory.max under the primary's floor leaves the workers nothing: a budget of 0 would read as
  // none (never shedding), so they get a byte and refuse (splitShortfall says why at start).
  return Math.max(1, Math.floor((cgroup - primary) / split.workers));
}

/**
 * Whether memory.max holds the primary and its workers at idle: the primary's share against its
 * floor, each worker's against `workerFloor` (a worker's idle footprint, estimated before any
 * runs: idleShare of the primary's RSS before its Raft state loaded, the code and config a worker
 * loads too). The text of a warning naming the figures, or null when it holds (or no cgroup, or
 * limits.memory set: then each process has that budget).
 */
export function splitShortfall(
  configured: number | undefined,
  split: WorkerSplit,
  workerFloor: number,
  cgroupPath = CGROUP_MEMORY_MAX,
): string | null {
  if (configured !== undefined) return null;
  const cgroup = readCgroupMax(cgroupPath);
  if (cgroup === null) return null;
  const worker = shareOf(cgroup, { ...split, role: "worker" });
  if (worker >= workerFloor) return null;
  const primary = shareOf(cgroup, { ...split, role: "primary" });
  const mb = (n: number) => `${Math.round(n / 1048576)} MB`;
  return `memory.max ${mb(cgroup)} cannot hold the primary and ${split.workers} workers at idle: the primary keeps ${mb(primary)}, leaving ${mb(worker)} per worker against the ~${mb(workerFloor)} a worker needs idle; they would shed or refuse from the start (/readyz 503). Raise the container's memory limit to at least ${mb(neededFor(split, workerFloor))}, or lower workers`;
}

/**
 * The least memory.max (to the MiB above) whose worker share reaches `workerFloor`: a worker's
 * share only grows with memory.max, and at the primary's largest share plus the workers' floors
 * it is there.
 */
function neededFor(split: WorkerSplit, workerFloor: number): number {
  const MIB = 1048576;
  let lo = 0;
  let hi = Math.ceil(
    (Math.max(split.primaryFloor, split.primaryReserve) + split.workers * workerFloor) / MIB,
  );
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (shareOf(mid * MIB, { ...split, role: "worker" }) >= workerFloor) hi = mid;
    else lo = mid + 1;
  }
  return hi * MIB;
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
