// The random network and process faults both simulators (random-run.ts on the pure core,
// driver-run.ts on real drivers) draw from the seed: a two-sided partition, and the faults of
// issue 9 (asymmetric links, paused processes, skewed clocks). One place, so both draw the same
// way and a seed replays the same faults.

import type { Prng } from "../../../config/raft/core/index.js";

/** What both simulated clusters offer for these faults. */
export interface FaultableCluster {
  partition(groups: readonly (readonly string[])[]): void;
  cutOneWay(from: string, to: string): void;
  pause(id: string, ticks: number): void;
  setClockRate(id: string, rate: number): void;
}

function pick<T>(rng: Prng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** Splits `ids` at random into two non-empty sides that cannot reach each other. */
export function randomPartition(sim: FaultableCluster, rng: Prng, ids: readonly string[]): void {
  const shuffled = [...ids].sort(() => rng.next() - 0.5);
  const cut = 1 + rng.int(ids.length - 1);
  sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
}

/**
 * Issue 9's faults, one at random: a link from one node to another cut one way, a node paused
 * for up to 30 ticks, or a node's clock run at half, normal or double rate.
 */
export function asymmetricFault(sim: FaultableCluster, rng: Prng, ids: readonly string[]): void {
  const a = pick(rng, ids);
  const b = pick(
    rng,
    ids.filter((x) => x !== a),
  );
  const f = rng.next();
  if (f < 0.4) sim.cutOneWay(a, b);
  else if (f < 0.7) sim.pause(a, 1 + rng.int(30));
  else sim.setClockRate(a, pick(rng, [0.5, 1, 2]));
}
