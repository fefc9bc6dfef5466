// Helpers for the hostile-client suite: each file starts a real `shardgate` process (the CLI,
// as an operator would) in front of real loopback upstreams and attacks it from outside with
// raw sockets. Nothing here reaches into the process: only its HTTP ports, its admin API, its
// log lines and /proc/<pid>/fd.

import { readdirSync } from "node:fs";
import { rawExchange } from "../support/raw-socket.js";
import { fetchJson, metricLines, metricValue } from "../support/shardgate-process.js";

/** Open file descriptors of process `pid` (Linux /proc). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A metric's value from the admin /metrics page (0 when the series is absent). */
export async function metric(
  adminUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`${adminUrl}/metrics`);
  return metricValue(await res.text(), name, labels) ?? 0;
}

/** The sum of every series of a metric (0 when it has none). */
export async function metricSum(adminUrl: string, name: string): Promise<number> {
  const res = await fetch(`${adminUrl}/metrics`);
  let sum = 0;
  for (const line of metricLines(await res.text(), name))
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}

/** Every member's committed breaker state from /admin/state, by member id. */
export async function breakerStates(adminUrl: string, pool = "users"): Promise<Record<string, string>> {
  const r = await fetchJson(`${adminUrl}/admin/state`);
  const out: Record<string, string> = {};
  const members = (r.body as { pools: Record<string, { members: Array<{ id: string; breaker?: string }> }> })
    .pools[pool].members;
  for (const m of members) out[m.id] = m.breaker ?? "closed";
  return out;
}

/** Sends `payload` raw and collects every byte answered until the peer closes (or `ms` passes). */
export function rawAll(port: number, payload: string, ms = 5000): Promise<string> {
  return rawExchange(port, payload, ms);
}

/** Port of an "http://host:port" URL. */
export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** The q-quantile (0..1) of `values` (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
