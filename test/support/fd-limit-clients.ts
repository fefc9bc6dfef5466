// A real shardgate held at its own descriptor limit from outside: the limit lowered with prlimit
// just above what it holds, then every number left below it taken by loopback client
// connections (the shardgate-side fd-limit-*.test.ts; the in-process form is takeEveryFd).

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { freeBelow, highestFd, setSoftFdLimit } from "./fd-limit.js";
import type { RunningShardgate } from "./shardgate-process.js";
import { fetchJson } from "./shardgate-process.js";
import { eventually } from "./wait.js";

/** Bounds the client connections a test opens into one set. */
const MAX_CLIENTS = 2_000;

/**
 * Opens a loopback client connection into `set` (the caller destroys them); resolves once
 * connected, or with null if it closes first (past the limit libuv closes it at once).
 */
export function openClient(port: number, set: Set<Socket>): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    set.add(s);
    s.on("error", () => {});
    s.once("connect", () => resolve(s));
    s.once("close", () => resolve(null));
  });
}

/**
 * Lowers the shardgate's soft limit to `headroom` numbers above its highest descriptor and
 * waits until /admin/state shows it (lowered while running, the sampler reads it every 2 s).
 * Returns the limit.
 */
export async function lowerShardgateFdLimit(sg: RunningShardgate, headroom: number): Promise<number> {
  const pid = sg.proc.child.pid;
  assert.ok(pid !== undefined);
  const limit = highestFd(pid) + 1 + headroom;
  setSoftFdLimit(pid, limit);
  await eventually("the new limit in /admin/state", async () => {
    const st = await fetchJson(`${sg.adminUrl}/admin/state`);
    return (st.body as { descriptors?: { limit: number } }).descriptors?.limit === limit ? true : undefined;
  });
  return limit;
}

/**
 * Opens a client connection to `port` for every descriptor number `pid` has free below
 * `limit` (a hole under a high-numbered descriptor counts); returns how many it opened.
 */
export async function takeFreeBelow(
  pid: number,
  limit: number,
  port: number,
  set: Set<Socket>,
): Promise<number> {
  const free = freeBelow(pid, limit);
  assert.ok(set.size + free <= MAX_CLIENTS, `${set.size + free} client connections needed to reach ${limit}`);
  if (free > 0) await Promise.all(Array.from({ length: free }, () => openClient(port, set)));
  return free;
}

/** Takes the numbers free below `limit` until none is left (an answered connection may free one). */
export async function holdAtFdLimit(
  pid: number,
  limit: number,
  port: number,
  set: Set<Socket>,
): Promise<void> {
  await eventually(`shardgate at its limit of ${limit} descriptors`, async () =>
    (await takeFreeBelow(pid, limit, port, set)) === 0 ? true : undefined,
  );
}
