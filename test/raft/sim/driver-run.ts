// One seeded run of the driver simulator (sim/driver-sim.ts: the production Ready loop and
// FileStorage on a page-cache file system): drops, delays, reordering, duplication, partitions,
// one-way cuts, paused processes, skewed clocks, crashes at idle instants and at armed file
// operations (inside truncations, snapshot installs, segment rolls), kill -9 / power loss /
// torn power loss, lost disks, proposals, ReadIndex reads, membership changes, leadership
// transfers and compaction. Checked throughout: election safety, log matching, leader
// completeness, state-machine safety, durable term/vote, no restart back in time after
// kill -9, no restart forgetting a retired data directory, and every read's index at least what was committed when it was issued
// (linearizable reads), and no build applying past a committed entry of a later level. At the
// end the faults stop: every member below a committed level must report the block while a
// quorum is there to tell it (level-block.ts); then the cluster must commit, every member
// apply it, state machines agree, and every voter that lost its disk be a voter again.
//
// Two clusters (`twoClusters`): a second cluster of the same node ids (a copy of the config,
// same secret) runs its own seeded workload beside the first, and a share of each cluster's
// messages is misrouted to the other's node of the same id, and now and then a node restarts
// on a copy of the other cluster's node's data directory until the operator gives it an empty
// one. Both run with feature levels, so each fixes its cluster id; checked besides: the
// handshake rule refuses every misrouted message and every message between a moved directory
// and its new peers (none crosses), each cluster keeps every invariant above, and at the end
// every member of a cluster holds that cluster's id and the two ids differ.
import { CURRENT_LEVEL, incarnationIn, Prng, RELEASED_LEVEL } from "../../../config/raft/core/index.js";
import type { ConfChange } from "../../../config/raft/types.js";
import { tendMembership } from "./driver-membership.js";
import { type DNode, DriverSim } from "./driver-sim.js";
import { encodeCommand } from "./kv.js";
import { checkBlocksReported } from "./level-block.js";
import { TICK } from "./network.js";
import { asymmetricFault, randomPartition } from "./network-faults.js";
import {
  checkClusterIds,
  fixClusterIds,
  linkClusters,
  moveDirectories,
  unlinkClusters,
} from "./two-clusters.js";

export interface DriverRunOptions {
  readonly ticks?: number;
  readonly trace?: boolean;
  /** Run a second cluster of the same ids beside the first, with misrouted messages between them. */
  readonly twoClusters?: boolean;
}

export interface DriverRunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly committed: number;
  readonly stats: DriverSim["stats"];
  readonly trace: readonly string[];
}

const IDS = ["n1", "n2", "n3", "n4", "n5"];
const KEYS = ["a", "b", "c"];

interface PendingRead {
  readonly node: string;
  readonly gen: number;
  /** The highest index any node had applied when the read was issued. */
  readonly c0: number;
  readonly key: string;
  index: number;
}

/** One cluster of a run and its workload's state. */
interface Run {
  readonly sim: DriverSim;
  readonly rng: Prng;
  readonly pick: <T>(xs: readonly T[]) => T;
  readonly voters: readonly string[];
  readonly leaderKiller: boolean;
  readonly reads: Map<string, PendingRead>;
  seq: number;
}

/** A second cluster's seed: its own workload, faults and Raft randomness. */
const SECOND_CLUSTER_SEED = 1_000_003;

export async function runDriverSeed(seed: number, opts: DriverRunOptions = {}): Promise<DriverRunResult> {
  const two = opts.twoClusters === true;
  const a = await newRun(seed, opts, two ? "A" : undefined);
  const b = two ? await newRun(seed + SECOND_CLUSTER_SEED, opts, "B") : null;
  if (b !== null) linkClusters(a.sim, b.sim, seed);
  const ok = () => a.sim.check.ok && (b === null || b.sim.check.ok);
  if (b !== null) await fixClusterIds(a.sim, b.sim);
  const ticks = opts.ticks ?? 100;
  for (let t = 0; t < ticks && ok(); t++) {
    await tick(a, t);
    if (b !== null && ok()) await tick(b, t);
  }
  // The faults stop, misrouting included.
  if (b !== null) await unlinkClusters(a.sim, b.sim);
  if (ok()) await checkRecovery(a.sim, a.seq, a.voters);
  if (b !== null && ok()) await checkRecovery(b.sim, b.seq, b.voters);
  if (b !== null && ok()) checkClusterIds(a.sim, b.sim);
  const violations = [
    ...a.sim.check.violations,
    ...(b?.sim.check.violations ?? []).map((v) => `cluster B: ${v}`),
  ];
  const stats = { ...a.sim.stats };
  if (b !== null) for (const k of Object.keys(stats) as (keyof typeof stats)[]) stats[k] += b.sim.stats[k];
  return {
    seed,
    ok: ok(),
    violations,
    committed: a.sim.check.maxCommitted + (b?.sim.check.maxCommitted ?? 0),
    stats,
    trace: b === null ? a.sim.traceLines : [...a.sim.traceLines, "---- cluster B ----", ...b.sim.traceLines],
  };
}

/** Builds and starts one cluster and its workload (`label` set: one of two, with feature levels). */
async function newRun(seed: number, opts: DriverRunOptions, label: string | undefined): Promise<Run> {
  const rng = new Prng(seed ^ 0x6a09e667);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  // Some seeds hunt leaders (6.824's Figure 8): propose, then often crash the leader at once,
  // so followers hold uncommitted tails that the next leader's appends truncate.
  const leaderKiller = rng.next() < 0.3;
  const nVoters = leaderKiller ? 5 : pick([3, 3, 5]);
  const voters = IDS.slice(0, nVoters);
  // A third of the seeds run a rolling upgrade (mixed feature levels: the level rises only once
  // every member advertises it). Drawn from their own stream: the other seeds run as before.
  const levelRng = new Prng(seed ^ 0x3c6ef372);
  let levels = levelRng.next() < 1 / 3 ? mixedLevels(levelRng) : undefined;
  // One of two clusters: a new cluster of this build (its first level entry fixes its id).
  if (label !== undefined) levels = Object.fromEntries(IDS.map((id) => [id, CURRENT_LEVEL]));
  const sim = new DriverSim({
    levels,
    label,
    clusterIds: label !== undefined,
    ids: IDS,
    voters,
    seed,
    trace: opts.trace,
    compactEvery: pick([0, 6, 15]),
    slowFsync: pick([0, 0.2, 0.5]),
    segmentBytes: pick([300, 600, 2000]),
    raft: {
      maxMsgEntries: pick([1, 4, 64]),
      maxInflight: pick([1, 4, 64]),
      preVote: rng.next() < 0.75,
      checkQuorum: rng.next() < 0.75,
    },
    net: {
      drop: pick([0, 0.05, 0.1]),
      duplicate: pick([0, 0.03]),
      minDelay: 1,
      maxDelay: pick([5, 15]),
      longReorder: pick([0, 0.02]),
      longDelay: 10 * TICK,
    },
  });
  sim.trace(
    `${label === undefined ? "" : `cluster ${label}, `}seed ${seed}: voters ${voters.join(",")}${levels ? `, levels ${JSON.stringify(levels)}` : ""}`,
  );
  await sim.startAll();
  const reads = new Map<string, PendingRead>();
  sim.onRead = (id, rs) => {
    const ctx = Buffer.from(rs.ctx).toString("latin1");
    const r = reads.get(ctx);
    if (r === undefined || r.node !== id || sim.node(id).gen !== r.gen) return;
    if (rs.index < r.c0) {
      sim.check.fail(
        `linearizability: read ${ctx} at ${id} got read index ${rs.index}, but ${r.c0} was committed before it was issued`,
      );
    }
    r.index = rs.index;
  };
  sim.onAdvance = (id) => {
    const n = sim.node(id);
    for (const [ctx, r] of reads) {
      if (r.node !== id || r.index === 0 || n.applied < r.index) continue;
      if (n.gen === r.gen) {
        // Served from state at n.applied >= index >= c0: sees every write acknowledged before.
        sim.stats.readsChecked++;
        sim.trace(`read ${ctx} at ${id} served at ${n.applied}: ${r.key}=${n.sm.get(r.key).slice(-12)}`);
      }
      reads.delete(ctx);
    }
  };

  return { sim, rng, pick, voters, leaderKiller, reads, seq: 0 };
}

/** One tick of a cluster's workload: a random fault or request, upkeep, then the tick itself. */
async function tick(run: Run, t: number): Promise<void> {
  const { sim, rng, pick, voters, leaderKiller, reads } = run;
  const live = () => IDS.filter((id) => sim.isUp(id));
  const down = () => IDS.filter((id) => !sim.isUp(id));
  if (leaderKiller) {
    const l = sim.leader();
    if (l) propose(sim, sim.node(l), run.seq++);
    const units = rng.int(TICK * 1.3);
    for (let u = 0; u < units; u++) await sim.stepUnit();
    if (l && sim.isUp(l) && rng.next() < 0.5) sim.crash(l, sim.pickKind());
    const d = down();
    if (d.length > 0 && (rng.next() < 0.2 || live().length < 3)) await sim.restart(pick(d));
  }
  const r = rng.next();
  if (r < 0.3) {
    const id = pick(IDS);
    if (sim.isUp(id)) propose(sim, sim.node(id), run.seq++);
  } else if (r < 0.32) {
    const l = live();
    if (l.length > 0) sim.crash(pick(l), sim.pickKind());
  } else if (r < 0.35) {
    const l = live();
    if (l.length > 0) sim.arm(pick(l), 1 + rng.int(30));
  } else if (r < 0.43) {
    const d = down();
    if (d.length > 0) await sim.restart(pick(d));
  } else if (r < 0.45) {
    randomPartition(sim, rng, IDS);
  } else if (r < 0.5) {
    sim.heal();
  } else if (r < 0.52) {
    changeMembership(sim, pick, voters);
  } else if (r < 0.535) {
    transfer(sim, pick);
  } else if (r < 0.56) {
    asymmetricFault(sim, rng, IDS);
  } else if (r < 0.63) {
    const id = pick(IDS);
    const n = sim.node(id);
    // A node blocked at a later version's entry refuses reads (the driver's checkServing).
    if (n.raft && !n.blocked) {
      const ctx = `r${run.seq++}`;
      reads.set(ctx, { node: id, gen: n.gen, c0: sim.check.maxCommitted, key: pick(KEYS), index: 0 });
      sim.stats.reads++;
      try {
        n.raft.readIndex(Buffer.from(ctx, "latin1"));
      } catch {
        reads.delete(ctx);
      }
      sim.afterInput(n);
    }
  } else if (r < 0.64) {
    const id = pick(IDS);
    if (mayLoseDisk(sim, id, voters)) {
      sim.loseDisk(id);
      if (rng.next() < 0.7) await sim.restart(id);
    }
  }
  if (sim.foreign !== null) await moveDirectories(sim, rng, (id) => mayLoseDisk(sim, id, voters));
  if (t % 2 === 0) tendMembership(sim);
  sim.tendLevel();
  await sim.runTicks(1);
}

/**
 * The fault model: a disk may be lost on one voter at a time. Every OTHER voter (in any
 * node's last configuration, a down node's too, and every founder) must still hold an admitted data directory, and at
 * least two of them must remain; otherwise a majority of the data is gone and only
 * `shardgate ctl recover --force-new-cluster` can help (README).
 */
function mayLoseDisk(sim: DriverSim, id: string, founders: readonly string[]): boolean {
  const voters = new Set<string>(founders);
  // Every configuration a node holds, also a down node's (its log still has it): a voter of any
  // of them may be needed for a quorum.
  for (const n of sim.nodes.values()) for (const v of n.lastConf.voters) voters.add(v);
  voters.delete(id);
  if (voters.size < 2) return false;
  for (const v of voters) if (!sim.node(v).admitted) return false;
  return true;
}

function propose(sim: DriverSim, n: DNode, seq: number): void {
  if (n.blocked) {
    sim.trace(`propose #${seq} at ${n.id} refused: upgrade required`);
    return;
  }
  const cmd = encodeCommand({ client: 0, seq, op: "append", key: KEYS[seq % 3], value: `${seq},` });
  try {
    const r = (n.raft as NonNullable<DNode["raft"]>).propose(cmd);
    sim.trace(`propose #${seq} at ${n.id} -> ${r.forwarded ? "forwarded" : `index ${r.index}`}`);
  } catch (e) {
    sim.trace(`propose #${seq} at ${n.id} dropped: ${(e as Error).message}`);
  }
  sim.afterInput(n);
}

/**
 * Random membership changes: learners added (under the joiner's incarnation), promoted and
 * removed, at any time, also while a voter that lost its disk is being replaced, and also of
 * a founder the leader's core demoted to replace it (its promotion by someone else than the
 * core must admit it as well). Founders are never removed: the run's end expects them voters.
 */
function changeMembership(
  sim: DriverSim,
  pick: <T>(xs: readonly T[]) => T,
  founders: readonly string[],
): void {
  const lid = sim.leader();
  if (!lid) return;
  const l = sim.node(lid);
  // The driver refuses a blocked leader's membership changes (checkServing).
  if (l.blocked) return;
  const raft = l.raft as NonNullable<DNode["raft"]>;
  const conf = raft.status().conf;
  const outsiders = IDS.filter((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
  const options: ConfChange[] = [];
  for (const id of outsiders) options.push({ type: "addLearner", node: id });
  for (const id of conf.learners) {
    options.push({ type: "addVoter", node: id });
    if (!founders.includes(id)) options.push({ type: "removeNode", node: id });
  }
  if (conf.voters.length > 3)
    for (const id of conf.voters) if (!founders.includes(id)) options.push({ type: "removeNode", node: id });
  if (options.length === 0) return;
  const cc = pick(options);
  try {
    // As cluster-node's addLearner: the joiner's join names its incarnation.
    const joiner = sim.node(cc.node).incarnation;
    raft.proposeConfChange(cc.type === "addLearner" ? { ...cc, incarnation: joiner } : cc);
    sim.trace(`conf change ${cc.type} ${cc.node} at ${lid}`);
  } catch (e) {
    sim.trace(`conf change ${cc.type} ${cc.node} refused: ${(e as Error).message}`);
  }
  sim.afterInput(l);
}

function transfer(sim: DriverSim, pick: <T>(xs: readonly T[]) => T): void {
  const lid = sim.leader();
  if (!lid) return;
  const l = sim.node(lid);
  const raft = l.raft as NonNullable<DNode["raft"]>;
  const target = pick(raft.status().conf.voters);
  try {
    raft.transferLeadership(target);
    sim.stats.transfers++;
    sim.trace(`transfer ${lid} -> ${target}`);
  } catch {}
  sim.afterInput(l);
}

/** Faults stop: commit a new entry everywhere, agree, and re-admit every founder that lost its disk. */
async function checkRecovery(sim: DriverSim, seq: number, founders: readonly string[]): Promise<void> {
  sim.trace("---- recovery: heal, restart all, reliable network ----");
  sim.heal();
  sim.stopFaults();
  sim.net.opts = { ...sim.net.opts, drop: 0, duplicate: 0, longReorder: 0 };
  for (const id of IDS) if (!sim.isUp(id)) await sim.restart(id);
  await checkBlocksReported(sim);
  // The rolling upgrade finishes: every build still behind restarts at this build's level.
  if (sim.opts.levels !== undefined)
    for (const id of IDS)
      if (sim.node(id).level < CURRENT_LEVEL) {
        sim.upgrade(id);
        await sim.restart(id);
      }
  if (!sim.check.ok) return;
  const members = (): string[] => {
    const l = sim.leader();
    if (!l) return IDS;
    const c = (sim.node(l).raft as NonNullable<DNode["raft"]>).status().conf;
    return [...c.voters, ...c.learners];
  };
  const cmd = encodeCommand({ client: 1, seq, op: "put", key: "final", value: "done" });
  const want = Buffer.from(cmd).toString("latin1");
  let index = -1;
  for (let attempt = 0; attempt < 15 && index < 0 && sim.check.ok; attempt++) {
    const l = sim.leader();
    let i = -1;
    if (l) {
      try {
        const r = (sim.node(l).raft as NonNullable<DNode["raft"]>).propose(cmd);
        if (!r.forwarded) i = r.index;
        sim.afterInput(sim.node(l));
      } catch {}
    }
    for (let k = 0; k < 20; k++) {
      if (i > 0 && sim.check.committed.has(i)) break;
      tendMembership(sim);
      sim.tendLevel();
      await sim.runTicks(1);
    }
    if (i > 0 && sim.check.committed.get(i)?.data === want) index = i;
  }
  if (!sim.check.ok) return;
  if (index < 0) {
    sim.check.fail(
      `liveness: nothing committed within 300 ticks after the faults stopped (${describeAll(sim)})`,
    );
    return;
  }
  const founderBack = (id: string) => {
    const n = sim.node(id);
    const l = sim.leader();
    const conf = l === null ? undefined : sim.node(l).raft?.status().conf;
    return n.admitted && conf?.voters.includes(id) === true && incarnationIn(conf, id) === n.incarnation;
  };
  let settled = false;
  for (let k = 0; k < 200 && !settled && sim.check.ok; k++) {
    const ms = members();
    const top = Math.max(...ms.map((id) => sim.node(id).applied));
    settled = top >= index && ms.every((id) => sim.node(id).applied === top) && founders.every(founderBack);
    if (!settled) {
      tendMembership(sim);
      sim.tendLevel();
      await sim.runTicks(1);
    }
  }
  if (!sim.check.ok) return;
  if (!settled) {
    sim.check.fail(
      `liveness: after the faults stopped, members did not all apply ${index} or a founder is not a voter again (${describeAll(sim)})`,
    );
    return;
  }
  await checkLevelRaised(sim, members);
  if (!sim.check.ok) return;
  const ms = members();
  const ref = Buffer.from(sim.node(ms[0]).sm.snapshot()).toString("latin1");
  for (const id of ms) {
    if (Buffer.from(sim.node(id).sm.snapshot()).toString("latin1") !== ref)
      sim.check.fail(`state machines differ: ${ms[0]} and ${id} at applied ${sim.node(id).applied}`);
  }
}

/** Build levels of a rolling upgrade: each node at the released level up to this build's, one at least behind. */
function mixedLevels(rng: Prng): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of IDS) out[id] = rng.int(CURRENT_LEVEL + 1);
  out[IDS[rng.int(IDS.length)]] = rng.int(CURRENT_LEVEL);
  return out;
}

/** Mixed-level runs, every build upgraded: the committed level must reach this build's on every member. */
async function checkLevelRaised(sim: DriverSim, members: () => string[]): Promise<void> {
  if (sim.opts.levels === undefined) return;
  let raised = false;
  for (let k = 0; k < 200 && !raised && sim.check.ok; k++) {
    raised = members().every((id) => sim.node(id).clusterLevel === CURRENT_LEVEL);
    if (!raised) {
      tendMembership(sim);
      sim.tendLevel();
      await sim.runTicks(1);
    }
  }
  if (sim.check.ok && !raised)
    sim.check.fail(
      `liveness: every build at level ${CURRENT_LEVEL}, the cluster level did not reach it on every member (${members()
        .map((id) => `${id}: ${sim.node(id).clusterLevel}`)
        .join(", ")}; released ${RELEASED_LEVEL})`,
    );
}

function describeAll(sim: DriverSim): string {
  return [...sim.nodes.values()].map((n) => sim.describe(n)).join("; ");
}
