// Writing keys through whichever of a set of real drivers (DriverNodes) leads: the tests that
// push a fleet past a member's log (so it needs a snapshot) write a run of keys this way and wait
// until every named member applied the last one.

import { SEED, seedNote } from "../prng.js";
import { waitFor } from "../wait.js";
import type { DriverNode } from "./driver-nodes.js";
import { type KvStateMachine, kvCommand } from "./kv-state-machine.js";

export function leaderOf<N extends DriverNode<KvStateMachine>>(ns: readonly N[]): N | undefined {
  return ns.find((n) => n.d.status().role === "leader");
}

/** Sets each key to "1" through the leader of the moment, then waits until every node applied the last. */
export async function write(
  ns: readonly DriverNode<KvStateMachine>[],
  keys: readonly string[],
): Promise<void> {
  for (const k of keys) {
    await waitFor(() => leaderOf(ns) !== undefined, `a leader to write ${k} (${seedNote(SEED)})`, 20_000);
    await (leaderOf(ns) as DriverNode<KvStateMachine>).d.propose(kvCommand(k, "1"));
  }
  const last = keys[keys.length - 1];
  await waitFor(
    () => ns.every((n) => n.kv.map.get(last) === "1"),
    `${last} applied on ${ns.map((n) => n.d.id).join(", ")} (${seedNote(SEED)})`,
    20_000,
  );
}

/** `prefix0` .. `prefix<n-1>`. */
export const keys = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`);
