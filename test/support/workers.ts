// Helpers for the `workers: N` process tests: requests each on a connection of its own (so the
// primary's round-robin spreads them over the workers), the pids that served them (from the
// workers' access lines), and the per-worker view of /admin/state.

import { request } from "node:http";
import type { LogLine, RunningShardgate } from "./shardgate-process.js";
import { eventually } from "./wait.js";

export interface FreshReply {
  status: number;
  member: string;
  ringVersion: string;
}

/** GET `path` with `x-user-id: key` on a new connection (no keep-alive agent). */
export function getOnFreshConnection(
  httpUrl: string,
  path: string,
  key: string,
  timeoutMs = 20_000,
): Promise<FreshReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${httpUrl}${path}`,
      { agent: false, headers: { "x-user-id": key, connection: "close" }, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            member: String(res.headers["x-member"] ?? ""),
            ringVersion: String(res.headers["x-ring-version"] ?? ""),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Pids of the processes that wrote access lines (from line `from` on). */
export function servingPids(lines: readonly LogLine[], from = 0): Set<number> {
  const pids = new Set<number>();
  for (let i = from; i < lines.length; i++) if (lines[i].type === "access") pids.add(Number(lines[i].pid));
  return pids;
}

export interface WorkerEntry {
  worker: number;
  pid: number | null;
  inFlight: number;
  ringVersion: number;
  restarts: number;
}

export async function workerViews(sg: RunningShardgate): Promise<WorkerEntry[]> {
  const res = await fetch(`${sg.adminUrl}/admin/state`);
  const body = (await res.json()) as { workers?: WorkerEntry[] };
  if (body.workers === undefined) throw new Error("/admin/state has no workers section");
  return body.workers;
}

/** Waits until every worker is up and routes on ring version >= `version`. */
export function allWorkersAt(sg: RunningShardgate, count: number, version: number): Promise<WorkerEntry[]> {
  return eventually(
    `${count} workers up at ring version >= ${version}`,
    async () => {
      const views = await workerViews(sg);
      return views.length === count && views.every((w) => w.pid !== null && w.ringVersion >= version)
        ? views
        : undefined;
    },
    60_000,
    100,
  );
}

/**
 * Sends requests on fresh connections (`key(i)` for request i), 8 at a time, until access lines
 * from `pids` distinct processes appear after line `from`, at most `max` requests; returns the
 * replies in request order. Concurrent: every worker accepts on the one shared socket, and with
 * one connection at a time the warm worker that answered the last one usually wins the next
 * accept as well, so a freshly started worker could go without any for hundreds of requests.
 */
export async function spreadUntilPids(
  sg: RunningShardgate,
  key: (i: number) => string,
  pids: number,
  max: number,
  from: number,
): Promise<FreshReply[]> {
  const replies: FreshReply[] = [];
  for (let i = 0; i < max; i += SPREAD_BATCH) {
    const batch = Array.from({ length: Math.min(SPREAD_BATCH, max - i) }, (_, j) =>
      getOnFreshConnection(sg.httpUrl, "/", key(i + j)),
    );
    replies.push(...(await Promise.all(batch)));
    if (servingPids(sg.proc.lines, from).size >= pids) break;
  }
  await sg.proc.waitFor(`access lines from ${pids} workers`, () =>
    servingPids(sg.proc.lines, from).size >= pids ? true : undefined,
  );
  return replies;
}

const SPREAD_BATCH = 8;
