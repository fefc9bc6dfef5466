// Two clusters of the same node ids side by side in the driver simulator (sim/driver-run.ts,
// `twoClusters`): how they are linked (a share of each one's messages misrouted to the other's
// node of the same id), data directories moved between them, their quiet start until both
// fixed a cluster id, and the end check that each cluster's members hold one id of their own. What the handshake refuses is decided
// in sim/driver-sim.ts by the transport's own rule (config/raft/transport/cluster-check.ts).
import { Prng } from "../../../config/raft/core/index.js";
import type { DriverSim } from "./driver-sim.js";

/** Links `a` and `b`: a seeded share (2%, 10% or 30%) of each one's messages goes to the other. */
export function linkClusters(a: DriverSim, b: DriverSim, seed: number): void {
  const share = [0.02, 0.1, 0.3][new Prng(seed ^ 0x0badcafe).int(3)];
  a.foreign = b;
  b.foreign = a;
  a.misroute = share;
  b.misroute = share;
  a.trace(`two clusters: ${share} of the messages misrouted to the other cluster's node of the same id`);
}

/**
 * The faults stop: no more misrouting, and a node still on the other cluster's data directory
 * is given an empty one (the recovery checks run on each cluster alone).
 */
export async function unlinkClusters(a: DriverSim, b: DriverSim): Promise<void> {
  for (const sim of [a, b]) {
    sim.misroute = 0;
    for (const n of sim.nodes.values())
      if (n.alien !== "") {
        sim.loseDisk(n.id);
        await sim.restart(n.id);
      }
  }
}

/**
 * A data directory moved between fleets, now and then: a node restarts on a copy of the other
 * cluster's node of the same id (one at a time, only where this cluster may lose that node's
 * disk, and only from a node that holds a cluster id: a directory without one is not protected,
 * README: Cluster identity, "Not covered"); a few ticks later the operator starts it on an
 * empty directory (it rejoins as after a lost disk).
 */
export async function moveDirectories(
  sim: DriverSim,
  rng: Prng,
  mayLose: (id: string) => boolean,
): Promise<void> {
  const other = sim.foreign;
  if (other === null) return;
  const alien = [...sim.nodes.values()].find((n) => n.alien !== "");
  if (alien !== undefined) {
    if (rng.next() < 0.1) {
      sim.trace(`operator: ${alien.id} gets an empty data directory`);
      sim.loseDisk(alien.id);
      if (rng.next() < 0.7) await sim.restart(alien.id);
    }
    return;
  }
  if (rng.next() >= 0.02) return;
  const ids = [...sim.nodes.keys()];
  const id = ids[rng.int(ids.length)];
  const from = other.nodes.get(id);
  if (from === undefined || from.raft === null || from.cluster === "" || from.alien !== "" || !mayLose(id))
    return;
  await sim.moveIn(id, from, other.opts.label ?? "A");
}

/**
 * Two new clusters start without the workload's faults until each has fixed its cluster id (as
 * a real one does in its first heartbeats), so that misrouting, which needs both ends to hold an
 * id, happens while the faults run. Bounded: 100 ticks. A crash armed inside a file operation
 * still strikes here (the first truncations come with the first elections), so a node down is
 * restarted at the next tick, as its supervisor would: the level, and with it the id, rises only
 * once every member advertised its level, which a founder left down never does (seed 3691).
 */
export async function fixClusterIds(a: DriverSim, b: DriverSim): Promise<void> {
  const fixed = (sim: DriverSim) => sim.opts.voters.every((id) => sim.node(id).cluster !== "");
  for (let k = 0; k < 100 && !(fixed(a) && fixed(b)); k++) {
    for (const sim of [a, b]) {
      for (const id of sim.nodes.keys()) if (!sim.isUp(id)) await sim.restart(id);
      sim.tendLevel();
      await sim.runTicks(1);
    }
  }
  for (const [sim, label] of [
    [a, "A"],
    [b, "B"],
  ] as const)
    if (!fixed(sim))
      sim.check.fail(`liveness: cluster ${label}'s founders did not fix a cluster id within 100 quiet ticks`);
}

/** Two clusters at the end: each member holds its cluster's id, and the two ids differ. */
export function checkClusterIds(a: DriverSim, b: DriverSim): void {
  const idOf = (sim: DriverSim, label: string): string | undefined => {
    const l = sim.leader();
    const conf = l === null ? undefined : sim.node(l).raft?.status().conf;
    const members = conf === undefined ? [...sim.nodes.keys()] : [...conf.voters, ...conf.learners];
    const ids = new Set(members.map((m) => sim.node(m).cluster));
    if (ids.size !== 1 || ids.has("")) {
      sim.check.fail(
        `cluster identity: cluster ${label}'s members hold ${members.map((m) => `${m}: ${sim.node(m).cluster || "none"}`).join(", ")}`,
      );
      return undefined;
    }
    return [...ids][0];
  };
  const ia = idOf(a, "A");
  const ib = idOf(b, "B");
  if (ia !== undefined && ia === ib) a.check.fail(`cluster identity: clusters A and B both hold id ${ia}`);
}
