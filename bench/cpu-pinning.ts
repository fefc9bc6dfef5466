// CPU pinning for the proxy benchmark (`--pin`): the proxy under test on one CPU, the load
// client (wrk), the upstreams and the bench process itself on another, the same for every
// target, so a target never competes with its own load generator for a core and each
// round of each target sees the same split. With taskset missing or fewer than 2 CPUs
// there is nothing to split and the bench says so.

import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";

export interface Pinning {
  /** CPU of every proxy under test (bare forwarders, shardgate, nginx as a proxy). */
  proxyCpu: number;
  /** CPU of wrk, the upstreams and the bench process. */
  loadCpu: number;
}

function hasTaskset(): boolean {
  try {
    execFileSync("sh", ["-c", "command -v taskset"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The split, or a sentence saying why there is none. */
export function choosePinning(): Pinning | string {
  if (availableParallelism() < 2) return "fewer than 2 CPUs";
  if (!hasTaskset()) return "taskset not installed (apt-get install -y util-linux)";
  return { proxyCpu: 1, loadCpu: 0 };
}

/** Pins every thread of a running process (taskset -a: Node's and libuv's threads too). */
export function pinProcess(pid: number, cpu: number): void {
  if (pid <= 0) return;
  execFileSync("taskset", ["-a", "-cp", String(cpu), String(pid)], { stdio: "ignore" });
}

export function describePinning(p: Pinning | string): string {
  return typeof p === "string"
    ? `CPU pinning: off (${p})`
    : `CPU pinning: every proxy under test on CPU ${p.proxyCpu}; wrk, the upstreams and the bench on CPU ${p.loadCpu} (taskset)`;
}

/** Lets every thread of a running process run on any CPU again. */
export function unpinProcess(pid: number): void {
  if (pid <= 0) return;
  const all = `0-${availableParallelism() - 1}`;
  execFileSync("taskset", ["-a", "-cp", all, String(pid)], { stdio: "ignore" });
}
