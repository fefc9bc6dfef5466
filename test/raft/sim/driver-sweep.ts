// A sweep of driver-simulator seeds split across worker threads: each seed is independent and
// CPU-bound (about 40 ms), so a 2,000-seed sweep on one thread left every other core idle. Seeds
// are dealt out in turn (seed i to worker i mod n), so each worker gets early and late seeds
// alike. The result is the same whatever the split: sums of counters, and failures by seed.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { DriverRunOptions } from "./driver-run.js";

export interface SweepResult {
  committed: number;
  totals: Record<string, number>;
  /** Each failing seed and its first violation, in seed order. */
  failures: Array<{ seed: number; violation: string }>;
}

/** What a sweep's runs are given (no trace: a sweep keeps only sums and failures). */
export type SweepRunOptions = Omit<DriverRunOptions, "trace">;

/** What a worker is given: its seeds and the run options. */
export interface SweepTask {
  seeds: number[];
  run: SweepRunOptions;
}

const WORKER = new URL(
  import.meta.url.endsWith(".ts") ? "./driver-sweep-worker.ts" : "./driver-sweep-worker.js",
  import.meta.url,
);

/** Runs seeds `first`..`last` with `run` on up to `workers` threads (default: the cores, at most 4). */
export async function sweepDriverSeeds(
  first: number,
  last: number,
  run: SweepRunOptions,
  workers = Math.min(4, availableParallelism()),
): Promise<SweepResult> {
  const n = Math.max(1, Math.min(workers, last - first + 1));
  const tasks: SweepTask[] = Array.from({ length: n }, () => ({ seeds: [], run }));
  for (let seed = first; seed <= last; seed++) tasks[(seed - first) % n].seeds.push(seed);
  const parts = await Promise.all(tasks.map(runWorker));
  const out: SweepResult = { committed: 0, totals: {}, failures: [] };
  for (const p of parts) {
    out.committed += p.committed;
    for (const [k, v] of Object.entries(p.totals)) out.totals[k] = (out.totals[k] ?? 0) + v;
    out.failures.push(...p.failures);
  }
  out.failures.sort((a, b) => a.seed - b.seed);
  return out;
}

function runWorker(task: SweepTask): Promise<SweepResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, {
      workerData: task,
      ...(import.meta.url.endsWith(".ts") ? { execArgv: ["--import", "tsx"] } : {}),
    });
    let result: SweepResult | undefined;
    w.once("message", (m: SweepResult) => {
      result = m;
    });
    w.once("error", reject);
    w.once("exit", (code) => {
      if (result !== undefined) resolve(result);
      else
        reject(
          new Error(`driver sweep worker (seeds from ${task.seeds[0]}) exited ${code} without a result`),
        );
    });
  });
}
