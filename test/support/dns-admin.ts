// What the DNS tests ask of a namespaced shardgate (dns-process.ts) while its resolver hangs, to
// show the rest of the process goes on: an admin POST (a drain or undrain, a Raft write) and a
// SIGHUP reload.

import assert from "node:assert/strict";
import type { NamespacedShardgate } from "./dns-process.js";
import { eventually, scaled } from "./wait.js";

/** POSTs `path` on the admin listener with the bearer `token`: the status, or "no answer: …" if none came within `ms` (scaled). */
export async function adminPost(
  sg: NamespacedShardgate,
  path: string,
  token: string,
  ms = 20_000,
): Promise<number | string> {
  const res = await fetch(`${sg.admin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(scaled(ms)),
  }).catch((err: unknown) => ({ status: `no answer: ${String(err)}` }));
  return res.status;
}

/** Sends SIGHUP and waits (20 s) for a "config reloaded" line after it; fails with the process's output if none comes. */
export async function sighupReloaded(sg: NamespacedShardgate): Promise<void> {
  const from = sg.lines.length;
  sg.proc.kill("SIGHUP");
  await eventually(
    "config reloaded after SIGHUP",
    () => sg.lines.slice(from).find((l) => typeof l.msg === "string" && l.msg.startsWith("config reloaded")),
    20_000,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
}
