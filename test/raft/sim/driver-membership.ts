// Today's "a voter lost its disk" protocol, as proxy/cluster/cluster-node.ts runs it every
// 250 ms, modelled in the driver simulator (it lives above the Raft layer, so the simulator
// plays its part):
//   - a member that is not in its own configuration, or a configured voter that is not admitted
//     and whose applied state records another incarnation for it, sends a join naming its
//     incarnation to every peer (only the leader acts, if the join reaches it);
//   - the leader re-admits a member it has in its configuration under a new incarnation: a
//     voter is demoted to a learner (a learner's progress forgotten), and once that applied,
//     the new incarnation is recorded in the replicated state; a join from a non-member
//     records its incarnation and adds it as a learner;
//   - the leader promotes configured voters that are learners and not being re-admitted
//     (the core refuses until they are caught up);
//   - a node is admitted (votes and campaigns again) when it applies its own promotion while
//     the recorded incarnation is its own (driver/identity.ts admitsIncarnation, shared).
// Until the demotion commits, the empty node's acknowledgements still count: that is what the
// simulator checks is safe (it does not vote, so it cannot elect a stale leader).
import { KIND_INCARNATION, wrapEntry } from "../../../config/raft/driver/envelope.js";
import type { ConfChange } from "../../../config/raft/types.js";
import type { DNode, DriverSim } from "./driver-sim.js";
import { TICK } from "./network.js";

function inConf(n: DNode, id: string): boolean {
  const c = n.raft?.status().conf;
  return c !== undefined && (c.voters.includes(id) || c.learners.includes(id));
}

export function recordIncarnation(sim: DriverSim, l: DNode, id: string, incarnation: string): number {
  const body = Buffer.from(JSON.stringify({ id, incarnation }));
  const r = (l.raft as NonNullable<DNode["raft"]>).propose(wrapEntry(KIND_INCARNATION, 0, 0, 0, body));
  sim.afterInput(l);
  return r.forwarded ? -1 : r.index;
}

function confChange(sim: DriverSim, l: DNode, cc: ConfChange): number {
  const r = (l.raft as NonNullable<DNode["raft"]>).proposeConfChange(cc);
  sim.trace(`tend: ${l.id} proposes ${cc.type} ${cc.node} @${r.index}`);
  sim.afterInput(l);
  return r.index;
}

/** One round of membership upkeep (every node's tendMembership, and the leader's answers). */
export function tendMembership(sim: DriverSim, configuredVoters: readonly string[]): void {
  const lid = sim.leader();
  if (lid === null || sim.isPaused(lid)) return;
  const l = sim.node(lid);
  const raft = l.raft;
  if (raft === null) return;
  // A re-admission is the leader's in-memory work: it ends when leadership does.
  for (const n of sim.nodes.values()) if (n !== l) n.readmitting.clear();
  // Joins that reach the leader.
  for (const n of sim.nodes.values()) {
    if (n === l || n.raft === null || sim.isPaused(n.id) || !sim.net.canTalk(n.id, l.id)) continue;
    const member = inConf(n, n.id);
    const readmit =
      member &&
      !n.identity.admitted &&
      configuredVoters.includes(n.id) &&
      n.incs.get(n.id) !== n.identity.incarnation;
    if (member && !readmit) continue;
    const inc = n.identity.incarnation;
    try {
      if (inConf(l, n.id)) startReadmission(sim, l, n.id, inc);
      else if (!l.readmitting.has(n.id)) {
        if (l.incs.get(n.id) !== inc) recordIncarnation(sim, l, n.id, inc);
        confChange(sim, l, { type: "addLearner", node: n.id });
      }
    } catch (err) {
      sim.trace(`tend: ${l.id} could not act on ${n.id}'s join: ${(err as Error).message}`);
    }
  }
  // Re-admissions in progress.
  for (const [id, r] of l.readmitting) {
    try {
      if (sim.now > r.deadline) {
        l.readmitting.delete(id);
        continue;
      }
      if (l.applied < r.index) continue;
      if (r.stage === "demoting") {
        const index = recordIncarnation(sim, l, id, r.incarnation);
        if (index < 0) l.readmitting.delete(id);
        else {
          r.stage = "recording";
          r.index = index;
        }
      } else {
        l.readmitting.delete(id);
      }
    } catch (err) {
      sim.trace(`tend: re-admission of ${id} stopped: ${(err as Error).message}`);
      l.readmitting.delete(id);
    }
  }
  // Caught-up configured voters go back to being voters.
  const st = raft.status();
  for (const id of configuredVoters) {
    if (!st.conf.learners.includes(id) || l.readmitting.has(id)) continue;
    try {
      confChange(sim, l, { type: "addVoter", node: id });
    } catch {
      // not caught up, or a change in flight: retried next round
    }
  }
}

function startReadmission(sim: DriverSim, l: DNode, id: string, incarnation: string): void {
  if (l.readmitting.has(id) || l.incs.get(id) === incarnation) return;
  const raft = l.raft as NonNullable<DNode["raft"]>;
  const voter = raft.status().conf.voters.includes(id);
  sim.trace(
    `tend: ${l.id} re-admits ${id} as ${incarnation} (was ${l.incs.get(id) ?? "founder"}, ${voter ? "voter" : "learner"})`,
  );
  let index = l.applied;
  if (voter) {
    index = confChange(sim, l, { type: "addLearner", node: id });
    raft.forgetProgress(id);
  } else raft.forgetProgress(id);
  sim.afterInput(l);
  l.readmitting.set(id, { incarnation, stage: "demoting", index, deadline: sim.now + 60 * TICK });
}
