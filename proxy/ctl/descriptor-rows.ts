// `ctl status`'s descriptor section: each process of each instance that is at its descriptor
// limit or met a shortage (EMFILE, ENFILE, EADDRNOTAVAIL) since it started, named by instance
// and process. With `workers: N` each worker is a process with a limit of its own, and the one
// at its limit is the one to look at (`/admin/state.workers[i].descriptors`); the primary is
// "primary", a single process "process". Nothing is shown while no process met its limit.

import type { AdminStateView, DescriptorView } from "../admin/types.js";
import { table } from "./tables.js";

export const DESCRIPTOR_HEADER = ["INSTANCE", "PROCESS", "OPEN", "LIMIT", "AT LIMIT", "SHORTAGES", "LAST"];

function row(instance: string, process: string, d: DescriptorView | undefined): unknown[] | null {
  if (d === undefined || (!d.atLimit && d.exhausted === 0)) return null;
  const last = d.last === undefined ? "-" : `${d.last.op} ${d.last.code} ${d.last.at}`;
  return [instance, process, d.open ?? "-", d.limit ?? "-", d.atLimit ? "yes" : "no", d.exhausted, last];
}

/** The section's lines (none when no process of any instance met its limit). */
export function descriptorLines(views: ReadonlyArray<{ admin: string; state: AdminStateView }>): string[] {
  const rows: unknown[][] = [];
  for (const { admin, state } of views) {
    const instance = state.raft?.id ?? admin;
    const workers = state.workers ?? [];
    const own = row(instance, workers.length > 0 ? "primary" : "process", state.descriptors);
    if (own !== null) rows.push(own);
    for (const w of workers) {
      const r = row(instance, `worker ${w.worker}${w.pid === null ? "" : ` (pid ${w.pid})`}`, w.descriptors);
      if (r !== null) rows.push(r);
    }
  }
  if (rows.length === 0) return [];
  return ["", "Descriptor limits met (README, Descriptor limits):", table(DESCRIPTOR_HEADER, rows)];
}
