// What else the machine did while a benchmark round ran: the CPU time of every process that is
// not the bench's (the bench process, its descendants, and the children it already reaped,
// such as wrk), the hypervisor's steal and the load average, from /proc read right before and
// right after the round (outside the timed window). On a shared 2-core machine this is the
// main noise in a round, so the benches flag a round by it (round-verdict.ts) and print it.
// With a CPU-speed probe (cpu-speed.ts) it also says how fast the CPUs ran meanwhile.

import { readdirSync, readFileSync } from "node:fs";
import type { CpuSpeedProbe, RunSpeed } from "./cpu-speed.js";

const CLK_TCK = 100; // Linux USER_HZ: /proc times are in these ticks.

interface ProcTimes {
  /** utime + stime of each live process, by pid. */
  readonly byPid: Map<number, { ticks: number; ppid: number; comm: string; start: number; nice: number }>;
  /** The bench process's own utime + stime + cutime + cstime (its reaped children included). */
  readonly selfTicks: number;
  /** cutime + cstime alone: children the bench reaped (wrk, once it exits). */
  readonly reapedTicks: number;
  /** /proc/stat: non-idle ticks of all CPUs (steal excluded) and steal ticks. */
  readonly busy: number;
  readonly steal: number;
  readonly load1: number;
  readonly at: bigint;
}

export interface RoundLoad {
  readonly seconds: number;
  /** Cores used by processes outside the bench during the round (of os.availableParallelism()). */
  readonly otherCores: number;
  /** Cores the bench itself (targets, upstreams, wrk, the bench process) used. */
  readonly benchCores: number;
  /** Cores of the bench's children that ended in the round (the load client, wrk). */
  readonly clientCores: number;
  /**
   * Of the outside cores, those of processes with a lower nice value than the bench process:
   * the scheduler gives each of them several times a bench process's share (nice 0 weighs
   * about 9x nice 10), so they, more than the total, decide what the targets get.
   */
  readonly higherPriorityCores: number;
  /** Cores the hypervisor took (steal). */
  readonly stealCores: number;
  readonly load1Before: number;
  readonly load1After: number;
  /** The busiest outside processes of the round: "comm(pid) cores". */
  readonly topOthers: string;
  /** How fast the CPUs ran during the round (cpu-speed.ts); null without a probe. */
  readonly cpuSpeed: RunSpeed | null;
}

function parseStat(
  text: string,
): { ppid: number; ticks: number; children: number; comm: string; start: number; nice: number } | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const comm = text.slice(text.indexOf("(") + 1, close);
  const f = text.slice(close + 2).split(" ");
  // After the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) priority(15) nice(16) ... starttime(19).
  return {
    ppid: Number(f[1]),
    ticks: Number(f[11]) + Number(f[12]),
    children: Number(f[13]) + Number(f[14]),
    comm,
    start: Number(f[19]),
    nice: Number(f[16]),
  };
}

function snapshot(): ProcTimes {
  const byPid = new Map<number, { ticks: number; ppid: number; comm: string; start: number; nice: number }>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const s = parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
      if (s !== null) byPid.set(pid, s);
    } catch {
      // The process ended between readdir and read: it is in neither side's sum.
    }
  }
  const self = parseStat(readFileSync("/proc/self/stat", "utf8"));
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return {
    byPid,
    selfTicks: self === null ? 0 : self.ticks + self.children,
    reapedTicks: self === null ? 0 : self.children,
    busy: user + nice + system + irq + softirq,
    steal: steal ?? 0,
    load1: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]),
    at: process.hrtime.bigint(),
  };
}

/** The bench's processes: this one and every descendant (targets, upstreams, wrk while it runs). */
function benchPids(s: ProcTimes): Set<number> {
  const mine = new Set<number>([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of s.byPid)
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
  }
  return mine;
}

/** Call start() right before a round's load and stop() right after it. */
export class RoundMeter {
  private before: ProcTimes | null = null;

  constructor(private readonly probe: CpuSpeedProbe | null = null) {}

  start(): void {
    this.before = snapshot();
  }

  stop(): RoundLoad {
    const b = this.before ?? snapshot();
    const a = snapshot();
    const seconds = Number(a.at - b.at) / 1e9;
    const mine = benchPids(a);
    for (const pid of benchPids(b)) mine.add(pid);
    let benchTicks = a.selfTicks - b.selfTicks;
    const others: Array<[string, number]> = [];
    const myNice = a.byPid.get(process.pid)?.nice ?? 0;
    let higherTicks = 0;
    for (const [pid, p] of a.byPid) {
      if (pid === process.pid) continue;
      const was = b.byPid.get(pid);
      // A process started during the round counts from 0. Same pid and start time = same
      // process (a kernel worker's name changes with the work it does).
      const d = p.ticks - (was !== undefined && was.start === p.start ? was.ticks : 0);
      if (d <= 0) continue;
      if (mine.has(pid)) benchTicks += d;
      else {
        others.push([`${p.comm}(${pid})`, d]);
        if (p.nice < myNice) higherTicks += d;
      }
    }
    const busy = a.busy - b.busy;
    // Processes that started and ended inside the round are only in /proc/stat: busy minus
    // the bench's own time is the outside CPU, whoever used it.
    const otherTicks = Math.max(0, busy - benchTicks);
    const cores = (t: number) => (seconds > 0 ? t / CLK_TCK / seconds : 0);
    others.sort((x, y) => y[1] - x[1]);
    return {
      seconds,
      otherCores: cores(otherTicks),
      benchCores: cores(benchTicks),
      clientCores: cores(a.reapedTicks - b.reapedTicks),
      higherPriorityCores: cores(higherTicks),
      stealCores: cores(a.steal - b.steal),
      load1Before: b.load1,
      load1After: a.load1,
      topOthers: others
        .slice(0, 3)
        .map(([n, t]) => `${n} ${cores(t).toFixed(2)}`)
        .join(", "),
      cpuSpeed: this.probe === null ? null : this.probe.window(b.at, a.at),
    };
  }
}

/**
 * One target's two runs of a mirrored round as one: the worse of the two for what flags a round
 * (outside CPU, steal, the slower CPU speed), the time-weighted mean for what the bench used.
 */
export function mergeLoads(a: RoundLoad, b: RoundLoad): RoundLoad {
  const seconds = a.seconds + b.seconds;
  const mean = (x: number, y: number) =>
    seconds > 0 ? (x * a.seconds + y * b.seconds) / seconds : (x + y) / 2;
  const worse = b.otherCores > a.otherCores ? b : a;
  const slower =
    a.cpuSpeed === null || b.cpuSpeed === null || !(b.cpuSpeed.speed < a.cpuSpeed.speed)
      ? a.cpuSpeed
      : b.cpuSpeed;
  return {
    seconds,
    otherCores: worse.otherCores,
    benchCores: mean(a.benchCores, b.benchCores),
    clientCores: mean(a.clientCores, b.clientCores),
    higherPriorityCores: Math.max(a.higherPriorityCores, b.higherPriorityCores),
    stealCores: Math.max(a.stealCores, b.stealCores),
    load1Before: a.load1Before,
    load1After: b.load1After,
    topOthers: worse.topOthers,
    cpuSpeed: slower,
  };
}
