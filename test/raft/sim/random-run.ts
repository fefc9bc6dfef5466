// One randomized simulation run per seed: a cluster under drops, delays, reordering,
// duplication, partitions, one-way link cuts, paused processes, skewed clocks, crashes that
// lose unsynced writes, restarts, client proposals,
// reads, membership changes, leadership transfers and log compaction. Invariants are checked
// after every step; at the end the faults stop and the cluster must make progress again.

import { Prng } from "../../../config/raft/core/index.js";
import type { ConfChange } from "../../../config/raft/types.js";
import { SimCluster } from "./cluster.js";
import { encodeCommand } from "./kv.js";
import { TICK } from "./network.js";
import { asymmetricFault, randomPartition } from "./network-faults.js";

export interface RunOptions {
  readonly ticks?: number;
  readonly trace?: boolean;
}

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly committed: number;
  readonly maxTerm: number;
  readonly messages: number;
  readonly stats: SimCluster["stats"];
  readonly trace: readonly string[];
}

const IDS = ["n1", "n2", "n3", "n4", "n5"];

export function runSeed(seed: number, opts: RunOptions = {}): RunResult {
  const rng = new Prng(seed ^ 0x2545f491);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  // Some seeds hunt leaders (6.824's Figure 8 test): propose, then often crash the leader
  // shortly after, so entries from old terms sit on minorities while terms move on.
  const leaderKiller = rng.next() < 0.3;
  const nVoters = leaderKiller ? 5 : pick([3, 3, 3, 5, 1]);
  const voters = IDS.slice(0, nVoters);
  const sim = new SimCluster({
    ids: IDS,
    voters,
    seed,
    trace: opts.trace,
    compactEvery: pick([0, 5, 12, 30]),
    slowFsync: pick([0, 0, 0.2]),
    raft: {
      maxMsgEntries: pick([1, 1, 4, 64]),
      maxInflight: pick([1, 4, 64]),
      // Supported configurations, and without them leaders churn far more.
      preVote: rng.next() < 0.75,
      checkQuorum: rng.next() < 0.75,
    },
    net: {
      drop: pick([0, 0.05, 0.15]),
      duplicate: pick([0, 0.03]),
      minDelay: 1,
      maxDelay: pick([5, 15]),
      longReorder: pick([0, 0, 0.02]),
      longDelay: 10 * TICK,
    },
  });
  sim.trace(`seed ${seed}: voters ${voters.join(",")}`);
  let seq = 0;
  const ticks = opts.ticks ?? 300;
  const live = () => IDS.filter((id) => sim.isUp(id));
  const down = () => IDS.filter((id) => !sim.isUp(id));

  for (let t = 0; t < ticks && sim.check.ok; t++) {
    if (leaderKiller) {
      const l = sim.leader();
      if (l) propose(sim, l, seq++);
      const units = rng.int(TICK * 1.3);
      for (let u = 0; u < units; u++) sim.stepUnit();
      if (l && rng.next() < 0.5) sim.crash(l);
      const d = down();
      if (d.length > 0 && (rng.next() < 0.2 || live().length < 3)) sim.restart(pick(d));
    }
    const r = rng.next();
    if (r < 0.35) {
      const id = pick(IDS);
      if (sim.isUp(id)) propose(sim, id, seq++);
    } else if (r < 0.37) {
      const l = live();
      if (l.length > 0) sim.crash(pick(l));
    } else if (r < 0.45) {
      const d = down();
      if (d.length > 0) sim.restart(pick(d));
    } else if (r < 0.47) {
      randomPartition(sim, rng, IDS);
    } else if (r < 0.52) {
      sim.heal();
    } else if (r < 0.535) {
      changeMembership(sim, pick);
    } else if (r < 0.54) {
      const l = sim.leader();
      if (l) {
        const target = pick(sim.node(l).raft!.status().conf.voters);
        try {
          sim.node(l).raft!.transferLeadership(target);
          sim.trace(`transfer ${l} -> ${target}`);
        } catch {}
        sim.afterInput(sim.node(l));
      }
    } else if (r < 0.565) {
      asymmetricFault(sim, rng, IDS);
    } else if (r < 0.575) {
      const id = pick(IDS);
      const n = sim.node(id);
      if (n.raft) {
        try {
          n.raft.readIndex(new Uint8Array([seq & 255, (seq >> 8) & 255]));
        } catch {}
        sim.afterInput(n);
      }
    }
    sim.runTicks(1);
  }

  if (sim.check.ok) checkRecovery(sim, seq);
  let maxTerm = 0;
  for (const n of sim.nodes.values()) maxTerm = Math.max(maxTerm, n.storage.initialState().hardState.term);
  return {
    seed,
    ok: sim.check.ok,
    violations: sim.check.violations,
    committed: sim.check.maxCommitted,
    maxTerm,
    messages: sim.net.sent,
    stats: sim.stats,
    trace: sim.traceLines,
  };
}

function propose(sim: SimCluster, id: string, seq: number): void {
  const n = sim.node(id);
  const cmd = encodeCommand({ client: 0, seq, op: "append", key: `k${seq % 3}`, value: `${seq},` });
  try {
    const r = n.raft!.propose(cmd);
    sim.trace(`propose #${seq} at ${id} -> ${r.forwarded ? "forwarded" : `index ${r.index}`}`);
  } catch (e) {
    sim.trace(`propose #${seq} at ${id} dropped: ${(e as Error).message}`);
  }
  sim.afterInput(n);
}

function changeMembership(sim: SimCluster, pick: <T>(xs: readonly T[]) => T): void {
  const l = sim.leader();
  if (!l) return;
  const raft = sim.node(l).raft!;
  const conf = raft.status().conf;
  const outsiders = IDS.filter((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
  const options: ConfChange[] = [];
  for (const id of outsiders) options.push({ type: "addLearner", node: id });
  for (const id of conf.learners)
    options.push({ type: "addVoter", node: id }, { type: "removeNode", node: id });
  if (conf.voters.length > 3) for (const id of conf.voters) options.push({ type: "removeNode", node: id });
  if (options.length === 0) return;
  const cc = pick(options);
  try {
    raft.proposeConfChange(cc);
    sim.trace(`conf change ${cc.type} ${cc.node} at ${l}`);
  } catch (e) {
    sim.trace(`conf change ${cc.type} ${cc.node} refused: ${(e as Error).message}`);
  }
  sim.afterInput(sim.node(l));
}

/** Faults stop: the cluster must elect a leader and commit a new entry on every member. */
function checkRecovery(sim: SimCluster, seq: number): void {
  sim.trace("---- recovery: heal, restart all, reliable network ----");
  sim.heal();
  sim.net.opts = { ...sim.net.opts, drop: 0, duplicate: 0, longReorder: 0 };
  for (const id of IDS) if (!sim.isUp(id)) sim.restart(id);
  const cmd = encodeCommand({ client: 1, seq, op: "put", key: "final", value: "done" });
  const members = () => {
    const l = sim.leader();
    if (!l) return IDS;
    const c = sim.node(l).raft!.status().conf;
    return [...c.voters, ...c.learners];
  };
  const index = sim.one(cmd, 1, 300);
  if (index < 0) {
    sim.check.fail(
      `liveness: no entry committed within 300 ticks after the faults stopped (${describeAll(sim)})`,
    );
    return;
  }
  const ok = sim.runUntil(() => members().every((id) => sim.node(id).applied >= index), 200);
  if (!ok) sim.check.fail(`liveness: members did not all apply index ${index} (${describeAll(sim)})`);
}

function describeAll(sim: SimCluster): string {
  return [...sim.nodes.values()].map((n) => sim.describe(n)).join("; ");
}
