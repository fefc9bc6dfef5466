// The membership upkeep above the Raft layer, as proxy/cluster/cluster-node.ts runs it every
// 250 ms, modelled in the driver simulator: a node that is not in its own configuration asks
// to join (the leader adds it as a learner under the incarnation its join names). That is all:
// a member that came back with a new data directory is replaced by the leader's Raft core
// itself (learner under the new incarnation, caught up, promoted back), with no upkeep step.
import type { DNode, DriverSim } from "./driver-sim.js";

function inConf(n: DNode, id: string): boolean {
  const c = n.raft?.status().conf;
  return c !== undefined && (c.voters.includes(id) || c.learners.includes(id));
}

/** One round of the upkeep: joins of non-members that reach the leader. */
export function tendMembership(sim: DriverSim): void {
  const lid = sim.leader();
  if (lid === null || sim.isPaused(lid)) return;
  const l = sim.node(lid);
  const raft = l.raft;
  // A blocked leader adds nobody: the driver refuses its membership changes (checkServing).
  if (raft === null || l.blocked) return;
  for (const n of sim.nodes.values()) {
    if (n === l || n.raft === null || sim.isPaused(n.id) || !sim.net.canTalk(n.id, l.id)) continue;
    if (inConf(n, n.id) || inConf(l, n.id)) continue;
    // A node on another cluster's data directory: its join would be refused at the handshake.
    if (n.alien !== "") continue;
    try {
      const r = raft.proposeConfChange({ type: "addLearner", node: n.id, incarnation: n.incarnation });
      sim.trace(`tend: ${l.id} adds learner ${n.id} (${n.incarnation || "founder"}) @${r.index}`);
      sim.afterInput(l);
    } catch (err) {
      sim.trace(`tend: ${l.id} could not add ${n.id}: ${(err as Error).message}`);
    }
  }
}
