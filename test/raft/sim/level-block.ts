// The upgrade block's liveness, checked once the faults stop (mixed-level runs): after a later
// version's entry committed, every live member whose build is below it reports UPGRADE_REQUIRED,
// provided a quorum of the voters is still there to tell it: up, or down only because it blocked
// (a process that stopped at the block is the gap this checks, not a fault that excuses it).
// The driver's promise (driver.ts holdAtBlock): a node that missed the commit index, because a
// message was lost or it was cut off, learns it from a blocked leader's heartbeats instead of
// serving on behind peers that stopped. Runs before the rolling upgrade finishes, so the builds
// that must block are still the old ones.
import type { DNode, DriverSim } from "./driver-sim.js";

/** Ticks a member that owes a block may take to report it: several election timeouts. */
const WINDOW = 100;

/** The lowest committed level entry above `n`'s build, or undefined. */
function owedBlock(sim: DriverSim, n: DNode): { index: number; level: number } | undefined {
  let owed: { index: number; level: number } | undefined;
  for (const [index, level] of sim.levelEntries)
    if (level > n.level && (owed === undefined || index < owed.index)) owed = { index, level };
  return owed;
}

/** The configuration of the live node that committed the most (what the cluster last agreed on). */
function latestConf(sim: DriverSim): { voters: readonly string[]; learners: readonly string[] } | undefined {
  let best: DNode | undefined;
  for (const n of sim.nodes.values())
    if (n.raft !== null && (best === undefined || n.raft.status().commit > (best.raft?.status().commit ?? 0)))
      best = n;
  return best?.raft?.status().conf;
}

/** A majority of voters is up or down only for the block (a crash for any other reason excuses). */
function quorumThere(sim: DriverSim, voters: readonly string[]): boolean {
  const there = voters.filter((id) => sim.isUp(id) || sim.node(id).blocked).length;
  return there > voters.length / 2;
}

function stranded(sim: DriverSim): DNode[] {
  const conf = latestConf(sim);
  if (conf === undefined || !quorumThere(sim, conf.voters)) return [];
  const out: DNode[] = [];
  for (const id of [...conf.voters, ...conf.learners]) {
    const n = sim.node(id);
    // Down and blocked: its start refused with UPGRADE_REQUIRED, which is reporting it.
    if (n.raft !== null && !n.blocked && owedBlock(sim, n) !== undefined) out.push(n);
  }
  return out;
}

/** The network is healed and every node restarted: members that owe a block must report it. */
export async function checkBlocksReported(sim: DriverSim, window = WINDOW): Promise<void> {
  if (sim.opts.levels === undefined || sim.levelEntries.size === 0) return;
  let left = stranded(sim);
  for (let k = 0; k < window && left.length > 0 && sim.check.ok; k++) {
    await sim.runTicks(1);
    left = stranded(sim);
  }
  if (!sim.check.ok) return;
  if (left.length === 0) {
    // Not vacuous: how many members owed a block here, and reported it.
    for (const n of sim.nodes.values())
      if (n.blocked && owedBlock(sim, n) !== undefined) sim.stats.blocksChecked++;
    return;
  }
  const what = left.map((n) => {
    const owed = owedBlock(sim, n);
    const s = n.raft?.status();
    return `${n.id} (build level ${n.level}, applied ${n.applied}, commit ${s?.commit}, ${s?.role}) owes entry ${owed?.index} of level ${owed?.level}`;
  });
  sim.check.fail(
    `upgrade block: ${window} ticks after the faults stopped, live members connected to a quorum still serve past a committed later version: ${what.join("; ")}`,
  );
}
