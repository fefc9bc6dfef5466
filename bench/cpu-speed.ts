// How fast the CPUs ran during each benchmark run, which /proc cannot say. On a shared VM a
// vCPU sometimes runs 2-3x slower for seconds at a time (a busy sibling hyperthread of the
// host, a lower clock) with steal 0 and no CPU used outside the bench: every function and every
// system call of whatever runs there slows alike. A round whose two sides ran at different
// speeds compares the CPUs, not the sides (round-verdict.ts flags it).
//
// One low-duty child per core (cpu-speed-probe.ts, pinned with taskset, at nice 19) times a
// fixed workload of about 2 ms by its own CPU time every 200 ms: about 1 % of each core. Each
// child leads its own session: with the kernel's autogroup scheduling a session shares the CPU
// as one group, and a probe in the bench's session (even at nice 19) kept that group runnable
// and raised the bench's share of a loaded machine (nginx under wrk: 1.7x the req/s with it
// than without, 6 interleaved pairs of 3-s windows; 3.2x with a nice-19 probe that never
// yielded its samples to the bench). In its own group at nice 19 it costs the others little. It calibrates first
// (30 samples per core, the median of all of them is speed 1.00), and a run's speed per core is
// the median of that core's samples that ended inside the run, relative to the calibration.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const PROBE_FILE = fileURLToPath(
  new URL(`./cpu-speed-probe.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url),
);
const CLK_TCK = 100;
/** Probes on at most this many cores: the figures are for small shared machines. */
const MAX_CORES = 8;

export interface ProbeOptions {
  readonly intervalMs: number;
  readonly calibrate: number;
}

export const DEFAULT_PROBE: ProbeOptions = { intervalMs: 200, calibrate: 30 };

/** The probe's figures for one run. */
export interface RunSpeed {
  /** Per core, the median speed of its samples in the run (1 = as at calibration); NaN: none. */
  readonly cores: readonly number[];
  /** The slowest core's speed: a slow core slows the whole bench (the rule compares this). */
  readonly speed: number;
  /** Samples in the run, all cores. */
  readonly samples: number;
}

interface Probe {
  readonly core: number;
  readonly child: ChildProcess;
  readonly calibration: number[];
  /** Steady samples: [end, monotonic ns; CPU time, us]. */
  readonly samples: Array<[bigint, number]>;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function ticks(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

export class CpuSpeedProbe {
  /** Median CPU time of one workload at calibration, all cores pooled, microseconds. */
  readonly calibrationUs: number;
  private readonly startedAt: bigint;
  private readonly startTicks: number;

  private constructor(
    private readonly probes: readonly Probe[],
    private readonly intervalMs: number,
  ) {
    this.calibrationUs = median(probes.flatMap((p) => p.calibration));
    this.startedAt = process.hrtime.bigint();
    this.startTicks = probes.reduce((a, p) => a + ticks(p.child.pid), 0);
  }

  /**
   * Starts one probe per core and waits for their calibration; a sentence instead when it
   * cannot (taskset missing, a probe that died or never calibrated within `timeoutMs`).
   */
  static async start(o: ProbeOptions = DEFAULT_PROBE, timeoutMs = 30_000): Promise<CpuSpeedProbe | string> {
    try {
      execFileSync("sh", ["-c", "command -v taskset"], { stdio: "ignore" });
    } catch {
      return "taskset not installed (apt-get install -y util-linux)";
    }
    const n = Math.min(MAX_CORES, availableParallelism());
    const probes: Probe[] = [];
    const ready: Array<Promise<string | null>> = [];
    for (let core = 0; core < n; core++) {
      const child = spawn(
        "taskset",
        [
          "-c",
          String(core),
          process.execPath,
          ...(PROBE_FILE.endsWith(".ts") ? ["--import", "tsx"] : []),
          PROBE_FILE,
          "--interval-ms",
          String(o.intervalMs),
          "--calibrate",
          String(o.calibrate),
        ],
        // detached: its own session, so its own scheduler autogroup (see the file's head).
        { stdio: ["pipe", "pipe", "inherit"], detached: true },
      );
      const p: Probe = { core, child, calibration: [], samples: [] };
      probes.push(p);
      ready.push(
        new Promise((resolve) => {
          const timer = setTimeout(
            () => resolve(`the probe on CPU ${core} did not calibrate within ${timeoutMs} ms`),
            timeoutMs,
          );
          child.once("exit", (code) => {
            clearTimeout(timer);
            resolve(`the probe on CPU ${core} exited (${code}) before it calibrated`);
          });
          createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on("line", (line) => {
            const [kind, cpu, , end] = line.split(" ");
            if (kind === "c") {
              p.calibration.push(Number(cpu));
              if (p.calibration.length === o.calibrate) {
                clearTimeout(timer);
                resolve(null);
              }
            } else if (kind === "s") p.samples.push([BigInt(end), Number(cpu)]);
          });
        }),
      );
    }
    const why = (await Promise.all(ready)).find((x) => x !== null);
    if (why !== undefined) {
      for (const p of probes) p.child.kill("SIGKILL");
      return why;
    }
    return new CpuSpeedProbe(probes, o.intervalMs);
  }

  /** The run from `from` to `to` (process.hrtime.bigint() readings) as the probe saw it. */
  window(from: bigint, to: bigint): RunSpeed {
    const cores = this.probes.map((p) =>
      median(p.samples.filter(([at]) => at >= from && at <= to).map(([, us]) => this.calibrationUs / us)),
    );
    const seen = cores.filter((x) => Number.isFinite(x));
    return {
      cores,
      speed: seen.length === 0 ? Number.NaN : Math.min(...seen),
      samples: this.probes.reduce((a, p) => a + p.samples.filter(([at]) => at >= from && at <= to).length, 0),
    };
  }

  /** What the probes cost since calibration: CPU per core, in cores (0.01 = 1 % of each core). */
  costPerCore(): number {
    const seconds = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
    const used = this.probes.reduce((a, p) => a + ticks(p.child.pid), 0) - this.startTicks;
    return seconds > 0 ? used / CLK_TCK / seconds / this.probes.length : Number.NaN;
  }

  get coreCount(): number {
    return this.probes.length;
  }

  /** The probe processes' pids, one per CPU. */
  get pids(): number[] {
    return this.probes.map((p) => p.child.pid ?? 0);
  }

  /** One line for a bench's header and summary. */
  describe(): string {
    return `CPU-speed probe: a fixed ${(this.calibrationUs / 1000).toFixed(2)} ms workload timed by its CPU time on each of ${this.probes.length} CPUs (taskset, nice 19) every ${this.intervalMs} ms; speed 1.00 = the calibration at start, a run's speed = its slowest CPU's median`;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.probes.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
            p.child.once("exit", () => resolve());
            p.child.stdin?.end();
            setTimeout(() => p.child.kill("SIGKILL"), 2000).unref();
          }),
      ),
    );
  }
}

/** "0.97" or "0.97 (0.97 1.02)" with the per-core figures; "-" without a probe. */
export function speedText(s: RunSpeed | null, perCore = false): string {
  if (s === null || !Number.isFinite(s.speed)) return "-";
  return perCore
    ? `${s.speed.toFixed(2)} (${s.cores.map((c) => c.toFixed(2)).join(" ")})`
    : s.speed.toFixed(2);
}
