// `workers: N | auto` (config) and `--workers N|auto` (flag) as a process count.

import { availableParallelism } from "node:os";

export type WorkersSetting = number | "auto";

/** "auto" is one worker per core this process may use (cgroup/affinity limits included). */
export function workerCount(setting: WorkersSetting): number {
  return setting === "auto" ? Math.max(1, availableParallelism()) : setting;
}

/** The --workers flag: a whole number from 1 to 256, or "auto"; undefined when it is neither. */
export function parseWorkersFlag(text: string): WorkersSetting | undefined {
  if (text === "auto") return "auto";
  if (!/^[1-9][0-9]{0,2}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 256 ? n : undefined;
}
