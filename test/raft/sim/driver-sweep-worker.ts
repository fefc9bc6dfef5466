// One worker thread of a driver-simulator sweep (driver-sweep.ts): runs its seeds in order and
// posts the sums and the failing seeds back once.
import { parentPort, workerData } from "node:worker_threads";
import { runDriverSeed } from "./driver-run.js";
import type { SweepResult, SweepTask } from "./driver-sweep.js";

const task = workerData as SweepTask;
const out: SweepResult = { committed: 0, totals: {}, failures: [] };
for (const seed of task.seeds) {
  const r = await runDriverSeed(seed, task.run);
  out.committed += r.committed;
  for (const [k, v] of Object.entries(r.stats)) out.totals[k] = (out.totals[k] ?? 0) + v;
  if (!r.ok) out.failures.push({ seed, violation: r.violations[0] });
}
parentPort?.postMessage(out);
