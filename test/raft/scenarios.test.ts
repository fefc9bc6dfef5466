// The MIT 6.824/6.5840 Raft lab scenarios (see /work/shared/reference/raft-testing.md), on the
// simulated network. 1 tick ~ 100 ms of the lab: election timeout 10-20 ticks, heartbeat 1 tick.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng } from "../../config/raft/core/index.js";
import { testSeed } from "../support/prng.js";
import {
  assertInvariants,
  checkNoLeader,
  checkOneLeader,
  checkTerms,
  cmd,
  ids,
  one,
  state,
} from "./sim/checks.js";
import { SimCluster, type SimOptions } from "./sim/cluster.js";
import { RELIABLE, TICK, UNRELIABLE } from "./sim/network.js";

/**
 * Each scenario runs one seed, BASE_SEED + its number: TEST_SEED sets the base (replay or try
 * others), 100 by default (the scenarios' seeds 101-123 before TEST_SEED reached them).
 * A failing run prints the seed and the re-run command (test/support/prng.ts).
 */
const BASE_SEED = testSeed(100);

function cluster(n: number, seed: number, extra: Partial<SimOptions> = {}): SimCluster {
  const all = ids(n);
  return new SimCluster({ ids: all, voters: all, seed, ...extra });
}

const at = (all: string[], i: number) => all[((i % all.length) + all.length) % all.length];

test("InitialElection: one leader, term agreed, and it stays put", () => {
  const seed = BASE_SEED + 1;
  const sim = cluster(3, seed);
  checkOneLeader(sim, seed);
  const term1 = checkTerms(sim, seed);
  assert.ok(term1 >= 2, `seed ${seed}: term ${term1} should be past the bootstrap term 1`);
  sim.runTicks(20);
  assert.equal(checkTerms(sim, seed), term1, `seed ${seed}: term changed without failures (${state(sim)})`);
  checkOneLeader(sim, seed);
  assertInvariants(sim, seed);
});

test("ReElection: leader loss, rejoin, no quorum, quorum back", () => {
  const seed = BASE_SEED + 2;
  const all = ids(3);
  const sim = cluster(3, seed);
  const leader1 = checkOneLeader(sim, seed);
  sim.disconnect(leader1);
  checkOneLeader(sim, seed);
  sim.connect(leader1);
  const leader2 = checkOneLeader(sim, seed);
  sim.disconnect(leader2);
  sim.disconnect(at(all, all.indexOf(leader2) + 1));
  sim.runTicks(30);
  checkNoLeader(sim, seed);
  sim.connect(at(all, all.indexOf(leader2) + 1));
  checkOneLeader(sim, seed);
  sim.connect(leader2);
  checkOneLeader(sim, seed);
  assertInvariants(sim, seed);
});

test("ManyElections: 7 nodes, random disconnects of 3, always one leader", () => {
  const seed = BASE_SEED + 3;
  const all = ids(7);
  const sim = cluster(7, seed);
  const rng = new Prng(seed);
  checkOneLeader(sim, seed);
  for (let i = 0; i < 10; i++) {
    const picked = [all[rng.int(7)], all[rng.int(7)], all[rng.int(7)]];
    for (const id of picked) sim.disconnect(id);
    checkOneLeader(sim, seed);
    for (const id of picked) sim.connect(id);
  }
  checkOneLeader(sim, seed);
  assertInvariants(sim, seed);
});

test("BasicAgree: commands commit on all nodes at consecutive indexes", () => {
  const seed = BASE_SEED + 4;
  const sim = cluster(3, seed);
  checkOneLeader(sim, seed);
  let prev = -1;
  for (let i = 0; i < 3; i++) {
    const index = one(sim, seed, 100 + i, 3);
    if (prev > 0) assert.equal(index, prev + 1, `seed ${seed}: index ${index} does not follow ${prev}`);
    prev = index;
  }
  assertInvariants(sim, seed);
});

test("RPCCount: election, agreement and idle traffic stay within the lab's bounds", () => {
  const seed = BASE_SEED + 5;
  const sim = cluster(3, seed);
  const requests = () => {
    let n = 0;
    for (const [type, c] of sim.net.sentByType) if (!type.endsWith("Resp")) n += c;
    return n;
  };
  sim.runUntil(() => sim.leader() !== null, 60);
  const leader = checkOneLeader(sim, seed);
  assert.ok(requests() <= 30, `seed ${seed}: election took ${requests()} requests`);
  sim.runTicks(2);
  sim.net.resetCounters();
  const raft = sim.node(leader).raft!;
  const start = raft.status().term;
  let last = 0;
  for (let i = 0; i < 10; i++) {
    last = raft.propose(cmd(i)).index;
    sim.afterInput(sim.node(leader));
  }
  sim.runUntil(() => [...sim.nodes.values()].every((n) => n.applied >= last), 20);
  assert.equal(raft.status().term, start, `seed ${seed}: term changed during agreement`);
  const agree = requests();
  assert.ok(agree <= (10 + 1 + 3) * 3, `seed ${seed}: 10 agreements took ${agree} requests`);
  sim.net.resetCounters();
  sim.runTicks(10); // about one second of the lab's time
  assert.ok(requests() <= 3 * 20, `seed ${seed}: idle second took ${requests()} requests`);
  assertInvariants(sim, seed);
});

test("FailAgree: a disconnected follower catches up after it rejoins", () => {
  const seed = BASE_SEED + 6;
  const all = ids(3);
  const sim = cluster(3, seed);
  one(sim, seed, 101, 3);
  const leader = checkOneLeader(sim, seed);
  const f = at(all, all.indexOf(leader) + 1);
  sim.disconnect(f);
  for (let i = 102; i <= 105; i++) one(sim, seed, i, 2);
  sim.connect(f);
  one(sim, seed, 106, 3);
  one(sim, seed, 107, 3);
  assertInvariants(sim, seed);
});

test("FailNoAgree: without a majority nothing commits; after heal the log continues", () => {
  const seed = BASE_SEED + 7;
  const all = ids(5);
  const sim = cluster(5, seed);
  one(sim, seed, 10, 5);
  const leader = checkOneLeader(sim, seed);
  const li = all.indexOf(leader);
  for (const k of [1, 2, 3]) sim.disconnect(at(all, li + k));
  const r = sim.node(leader).raft!.propose(cmd(20));
  sim.afterInput(sim.node(leader));
  sim.runTicks(20);
  assert.equal(sim.nodes.get(leader)!.applied < r.index, true, `seed ${seed}: committed without a majority`);
  for (const k of [1, 2, 3]) sim.connect(at(all, li + k));
  checkOneLeader(sim, seed);
  one(sim, seed, 1000, 5);
  assertInvariants(sim, seed);
});

test("ConcurrentStarts: five proposals in one term all commit", () => {
  const seed = BASE_SEED + 8;
  const sim = cluster(3, seed);
  const leader = checkOneLeader(sim, seed);
  sim.runTicks(2);
  const raft = sim.node(leader).raft!;
  const term = raft.status().term;
  const indexes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = raft.propose(cmd(`conc${i}`));
    assert.equal(r.term, term);
    indexes.push(r.index);
  }
  sim.afterInput(sim.node(leader));
  const ok = sim.runUntil(() => indexes.every((ix) => sim.nCommitted(ix).count === 3), 20);
  assert.ok(ok, `seed ${seed}: concurrent proposals did not all commit (${state(sim)})`);
  assert.equal(raft.status().term, term, `seed ${seed}: term changed`);
  assertInvariants(sim, seed);
});

test("Rejoin: a partitioned leader with divergent entries rejoins and converges", () => {
  const seed = BASE_SEED + 9;
  const sim = cluster(3, seed);
  one(sim, seed, 101, 3);
  const leader1 = checkOneLeader(sim, seed);
  sim.disconnect(leader1);
  for (const v of [102, 103, 104]) {
    sim.node(leader1).raft!.propose(cmd(v));
    sim.afterInput(sim.node(leader1));
  }
  one(sim, seed, 103, 2);
  const leader2 = checkOneLeader(sim, seed);
  sim.disconnect(leader2);
  sim.connect(leader1);
  one(sim, seed, 104, 2);
  sim.connect(leader2);
  one(sim, seed, 105, 3);
  assertInvariants(sim, seed);
});

test("Backup: fast back-up over 50 divergent entries on each side of two partitions", () => {
  const seed = BASE_SEED + 10;
  const all = ids(5);
  const sim = cluster(5, seed);
  const rng = new Prng(seed);
  one(sim, seed, rng.int(1e6), 5);
  const leader1 = checkOneLeader(sim, seed);
  const l1 = all.indexOf(leader1);
  for (const k of [2, 3, 4]) sim.disconnect(at(all, l1 + k));
  for (let i = 0; i < 50; i++) sim.node(leader1).raft!.propose(cmd(`a${i}`));
  sim.afterInput(sim.node(leader1));
  sim.runTicks(5);
  sim.disconnect(leader1);
  sim.disconnect(at(all, l1 + 1));
  for (const k of [2, 3, 4]) sim.connect(at(all, l1 + k));
  for (let i = 0; i < 50; i++) one(sim, seed, `b${i}`, 3);
  const leader2 = checkOneLeader(sim, seed);
  let other = at(all, l1 + 2);
  if (other === leader2) other = at(all, all.indexOf(leader2) + 1);
  sim.disconnect(other);
  for (let i = 0; i < 50; i++) sim.node(leader2).raft!.propose(cmd(`c${i}`));
  sim.afterInput(sim.node(leader2));
  sim.runTicks(5);
  for (const id of all) sim.disconnect(id);
  sim.connect(leader1);
  sim.connect(at(all, l1 + 1));
  sim.connect(other);
  for (let i = 0; i < 50; i++) one(sim, seed, `d${i}`, 3);
  for (const id of all) sim.connect(id);
  one(sim, seed, rng.int(1e6), 5);
  assertInvariants(sim, seed);
});

test("Persist1: commits survive crashing all, the leader, and a follower", () => {
  const seed = BASE_SEED + 11;
  const all = ids(3);
  const sim = cluster(3, seed);
  one(sim, seed, 11, 3);
  for (const id of all) sim.restart(id);
  one(sim, seed, 12, 3);
  const leader1 = checkOneLeader(sim, seed);
  sim.restart(leader1);
  one(sim, seed, 13, 3);
  const leader2 = checkOneLeader(sim, seed);
  sim.crash(leader2);
  one(sim, seed, 14, 2);
  sim.restart(leader2);
  sim.runUntil(() => sim.node(leader2).applied >= sim.check.maxCommitted, 40);
  const i3 = at(all, all.indexOf(checkOneLeader(sim, seed)) + 1);
  sim.crash(i3);
  one(sim, seed, 15, 2);
  sim.restart(i3);
  one(sim, seed, 16, 3);
  assertInvariants(sim, seed);
});

test("Persist2: repeated minority and leader crashes keep committed entries", () => {
  const seed = BASE_SEED + 12;
  const all = ids(5);
  const sim = cluster(5, seed);
  let index = 1;
  for (let iters = 0; iters < 5; iters++) {
    one(sim, seed, 10 + index++, 5);
    const l1 = all.indexOf(checkOneLeader(sim, seed));
    sim.crash(at(all, l1 + 1));
    sim.crash(at(all, l1 + 2));
    one(sim, seed, 10 + index++, 3);
    sim.crash(at(all, l1));
    sim.crash(at(all, l1 + 3));
    sim.crash(at(all, l1 + 4));
    sim.restart(at(all, l1 + 1));
    sim.restart(at(all, l1 + 2));
    sim.runTicks(10);
    sim.restart(at(all, l1 + 3));
    one(sim, seed, 10 + index++, 3);
    sim.restart(at(all, l1 + 4));
    sim.restart(at(all, l1));
  }
  one(sim, seed, 1000, 5);
  assertInvariants(sim, seed);
});

test("Persist3: a partitioned leader and a follower crash and come back", () => {
  const seed = BASE_SEED + 13;
  const all = ids(3);
  const sim = cluster(3, seed);
  one(sim, seed, 101, 3);
  const l = all.indexOf(checkOneLeader(sim, seed));
  sim.disconnect(at(all, l + 2));
  one(sim, seed, 102, 2);
  sim.crash(at(all, l));
  sim.crash(at(all, l + 1));
  sim.connect(at(all, l + 2));
  sim.restart(at(all, l));
  one(sim, seed, 103, 2);
  sim.restart(at(all, l + 1));
  one(sim, seed, 104, 3);
  assertInvariants(sim, seed);
});

/** 6.824 Figure8: propose, crash the leader soon after, keep at least 3 of 5 up. */
function figure8(seed: number, unreliable: boolean, rounds: number): void {
  const all = ids(5);
  const sim = cluster(5, seed, {
    net: unreliable ? { ...UNRELIABLE, longReorder: 0.05, longDelay: 25 * TICK } : RELIABLE,
    slowFsync: 0.2,
    // One entry per append: followers then acknowledge old-term entries before the new
    // leader's own, which is exactly when counting replicas of an old term would be unsafe.
    raft: { maxMsgEntries: 1 },
  });
  const rng = new Prng(seed);
  one(sim, seed, rng.int(1e6), 1);
  let nup = 5;
  for (let iter = 0; iter < rounds; iter++) {
    let leader: string | null = null;
    for (const id of all) {
      const n = sim.node(id);
      if (!n.raft || !sim.net.isConnected(id)) continue;
      try {
        const r = n.raft.propose(cmd(rng.int(1e6)));
        if (!r.forwarded) leader = id;
      } catch {}
      sim.afterInput(n);
    }
    const units = rng.int(10) < 1 ? rng.int(TICK * 5) : rng.int(TICK * 1.3);
    for (let u = 0; u < units; u++) sim.stepUnit();
    if (leader !== null) {
      if (unreliable) sim.disconnect(leader);
      else sim.crash(leader);
      nup--;
    }
    if (nup < 3) {
      const s = all[rng.int(5)];
      if (unreliable ? !sim.net.isConnected(s) : !sim.isUp(s)) {
        if (unreliable) sim.connect(s);
        else sim.restart(s);
        nup++;
      }
    }
    if (!sim.check.ok) break;
  }
  assertInvariants(sim, seed);
  sim.net.opts = { ...RELIABLE };
  for (const id of all) {
    if (!sim.isUp(id)) sim.restart(id);
    sim.connect(id);
  }
  one(sim, seed, rng.int(1e6), 5, 300);
  assertInvariants(sim, seed);
}

test("Figure8: 1000 rounds of crashing fresh leaders keep safety and end in agreement", () => {
  figure8(114, false, 1000);
});

test("UnreliableAgree: 50 rounds of 5 proposals on a lossy network all commit", () => {
  const seed = BASE_SEED + 15;
  const sim = cluster(5, seed, { net: UNRELIABLE });
  for (let iter = 1; iter < 50; iter++) {
    for (let j = 0; j < 4; j++) one(sim, seed, 100 * iter + j, 1);
    one(sim, seed, iter, 1);
  }
  sim.net.opts = { ...RELIABLE };
  one(sim, seed, 100, 5);
  assertInvariants(sim, seed);
});

test("Figure8Unreliable: lossy, long-reordering network with leader disconnects", () => {
  figure8(116, true, 1000);
});

/** Three clients propose while servers are disconnected, crashed and restarted at random. */
function churn(seed: number, unreliable: boolean): void {
  const all = ids(5);
  const sim = cluster(5, seed, { net: unreliable ? UNRELIABLE : RELIABLE, slowFsync: 0.1 });
  const rng = new Prng(seed);
  const seen: { index: number; value: string }[] = [];
  const pending: { index: number; value: string; term: number }[] = [];
  let next = 0;
  for (let round = 0; round < 20; round++) {
    for (let k = 0; k < 7; k++) {
      for (let c = 0; c < 3; c++) {
        const id = all[rng.int(5)];
        const n = sim.node(id);
        if (!n.raft) continue;
        const value = `churn${c}-${next++}`;
        try {
          const r = n.raft.propose(cmd(value));
          if (!r.forwarded) pending.push({ index: r.index, value, term: r.term });
        } catch {}
        sim.afterInput(n);
      }
      sim.runTicks(1);
      for (let i = pending.length - 1; i >= 0; i--) {
        const p = pending[i];
        const c = sim.nCommitted(p.index);
        if (c.data === undefined) continue;
        if (c.data === Buffer.from(cmd(p.value)).toString("latin1")) seen.push(p);
        pending.splice(i, 1);
      }
    }
    const s = all[rng.int(5)];
    const action = rng.int(5);
    if (action === 0) sim.disconnect(s);
    else if (action === 1) sim.connect(s);
    else if (action === 2) sim.crash(s);
    else if (action === 3 && !sim.isUp(s)) sim.restart(s);
    if (!sim.check.ok) break;
  }
  sim.net.opts = { ...RELIABLE };
  for (const id of all) {
    if (!sim.isUp(id)) sim.restart(id);
    sim.connect(id);
  }
  const last = one(sim, seed, "final", 5, 300);
  assert.ok(seen.length > 10, `seed ${seed}: only ${seen.length} values committed during churn`);
  for (const p of seen) {
    assert.ok(p.index < last, `seed ${seed}: value ${p.value} at ${p.index} is after the final entry`);
    for (const id of all) {
      assert.ok(sim.node(id).everApplied >= p.index, `seed ${seed}: ${id} never applied ${p.index}`);
    }
  }
  assertInvariants(sim, seed);
}

test("ReliableChurn: every value a client saw committed is in the final log", () => {
  churn(117, false);
});

test("UnreliableChurn: the same on a lossy network", () => {
  churn(118, true);
});

/** 6.824 snapshot tests: compaction every 10 entries, a lagging peer (disconnected or crashed). */
function snapshotScenario(
  seed: number,
  opts: { disconnect: boolean; crash: boolean; unreliable: boolean },
): void {
  const all = ids(3);
  const sim = cluster(3, seed, { compactEvery: 10, net: opts.unreliable ? UNRELIABLE : RELIABLE });
  const rng = new Prng(seed);
  one(sim, seed, rng.int(1e6), 3);
  let snapsSent = 0;
  for (let i = 0; i < 12; i++) {
    const leader = checkOneLeader(sim, seed, 100);
    const victim = at(all, all.indexOf(leader) + (i % 2 === 0 ? 1 : 2));
    if (opts.disconnect) sim.disconnect(victim);
    if (opts.crash) sim.crash(victim);
    for (let k = 0; k < 11; k++) one(sim, seed, rng.int(1e6), 2, 200);
    const before = sim.node(victim).storage.firstIndex();
    sim.net.resetCounters();
    if (opts.disconnect) sim.connect(victim);
    if (opts.crash) sim.restart(victim);
    const index = one(sim, seed, rng.int(1e6), 3, 200);
    snapsSent += sim.net.sentByType.get("snap") ?? 0;
    const v = sim.node(victim);
    assert.ok(v.everApplied >= index, `seed ${seed}: ${victim} did not catch up`);
    assert.ok(v.storage.firstIndex() >= before, `seed ${seed}: ${victim}'s snapshot index went back`);
    // The log stays small: compaction keeps at most ~2 x compactEvery entries around.
    for (const id of all) {
      const st = sim.node(id).storage;
      assert.ok(
        st.lastIndex() - st.firstIndex() < 40,
        `seed ${seed}: ${id} kept ${st.lastIndex() - st.firstIndex()} entries`,
      );
    }
  }
  assert.ok(snapsSent > 0, `seed ${seed}: no lagging peer was caught up by InstallSnapshot`);
  assertInvariants(sim, seed);
}

test("SnapshotBasic: compaction keeps the log small and agreement continues", () => {
  const seed = BASE_SEED + 19;
  const sim = cluster(3, seed, { compactEvery: 10 });
  for (let i = 0; i < 60; i++) one(sim, seed, i, 3);
  for (const n of sim.nodes.values()) {
    assert.ok(
      n.storage.firstIndex() > 40,
      `seed ${seed}: ${n.id} never compacted (first ${n.storage.firstIndex()})`,
    );
    assert.ok(n.storage.lastIndex() - n.storage.firstIndex() < 20);
  }
  assertInvariants(sim, seed);
});

test("SnapshotInstall: a disconnected peer catches up by snapshot", () => {
  snapshotScenario(120, { disconnect: true, crash: false, unreliable: false });
});

test("SnapshotInstallUnreliable: the same on a lossy network", () => {
  snapshotScenario(121, { disconnect: true, crash: false, unreliable: true });
});

test("SnapshotInstallCrash: a crashed peer restarts and catches up by snapshot", () => {
  snapshotScenario(122, { disconnect: false, crash: true, unreliable: false });
});

test("SnapshotAllCrash / Init: snapshots survive crashing everyone, twice; the index never goes back", () => {
  const seed = BASE_SEED + 23;
  const all = ids(3);
  const sim = cluster(3, seed, { compactEvery: 10 });
  const rng = new Prng(seed);
  one(sim, seed, rng.int(1e6), 3);
  for (let i = 0; i < 5; i++) {
    for (let k = 0; k < 11; k++) one(sim, seed, rng.int(1e6), 3);
    const firsts = all.map((id) => sim.node(id).storage.firstIndex());
    const index1 = one(sim, seed, rng.int(1e6), 3);
    for (const id of all) sim.crash(id);
    for (const id of all) sim.restart(id);
    for (const id of all) sim.restart(id); // a double crash right after restart
    const index2 = one(sim, seed, rng.int(1e6), 3, 200);
    assert.ok(index2 > index1, `seed ${seed}: index went back ${index1} -> ${index2}`);
    all.forEach((id, k) => {
      assert.ok(sim.node(id).storage.firstIndex() >= firsts[k], `seed ${seed}: ${id} lost its snapshot`);
    });
  }
  assertInvariants(sim, seed);
});
