// The CPU-speed probe's child process (started by cpu-speed.ts, pinned to one core with
// taskset): it times the fixed workload (cpu-speed-work.ts) by its own CPU time, so that time
// spent waiting for the core behind the bench's processes does not count, only how fast the
// core ran it. First `--calibrate` samples back to back (lines "c ..."), then one sample every
// `--interval-ms` (lines "s ..."): "<kind> <cpu us> <wall us> <monotonic ns at the end>".
// It exits when its stdin closes, so a bench that dies takes its probes with it.
// It runs at nice 19: a bench process that wakes on its core preempts it at once, so the probe
// takes the core's idle moments rather than a slice of a target's time (its CPU-time figure
// holds either way; only its samples come later on a saturated core).

import { writeFileSync } from "node:fs";
import { setPriority } from "node:os";
import { parseArgs } from "node:util";
import { WORK_ITERATIONS, work } from "./cpu-speed-work.js";

const { values } = parseArgs({
  options: {
    "interval-ms": { type: "string", default: "200" },
    calibrate: { type: "string", default: "30" },
  },
});
const intervalMs = Number(values["interval-ms"]);
const calibrate = Number(values.calibrate);
setPriority(19);
try {
  // Its own session (cpu-speed.ts starts it detached) is its own autogroup: nice 19 for the group.
  writeFileSync("/proc/self/autogroup", "19");
} catch {
  // No autogroup (kernel without it, or switched off): the task's nice is what counts.
}
let sink = 0;
let seq = 0;

function sample(kind: "c" | "s"): void {
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  sink ^= work(WORK_ITERATIONS, seq++);
  const w1 = process.hrtime.bigint();
  const c = process.cpuUsage(c0);
  process.stdout.write(`${kind} ${c.user + c.system} ${Number(w1 - w0) / 1000} ${w1}\n`);
}

// The optimizing compiler's warm-up, not reported.
for (let i = 0; i < 20; i++) sink ^= work(WORK_ITERATIONS, i);
let left = calibrate;
const calibrateStep = (): void => {
  if (left-- <= 0) {
    setInterval(() => sample("s"), intervalMs);
    return;
  }
  sample("c");
  // A short pause between calibration samples: a scheduler slice apart, not back to back.
  setTimeout(calibrateStep, 10);
};
calibrateStep();
process.stdin.on("end", () => process.exit(sink === 0.5 ? 1 : 0));
process.stdin.resume();
