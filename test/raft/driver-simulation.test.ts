// The driver simulator in CI (issue 9): 2,000 seeds of the PRODUCTION Ready loop and FileStorage
// (on the page-cache file system) under network faults, crashes at idle instants and inside
// truncations, snapshot installs and segment rolls (kill -9, power loss, torn power loss, power
// loss with unsynced writes reordered between files: with fix 5, the segment roll's fsync
// order, reverted, 27 of seeds 1-2000 fail, first seed 72), lost
// disks (the leader's core replaces the member under its new incarnation; the dead process's
// messages stay in flight and must not count), membership changes, leadership transfers and
// ReadIndex reads checked against what was committed before each was issued. A failing seed is
// printed and replayable: npm run raft:sim -- --replay SEED
import assert from "node:assert/strict";
import { test } from "node:test";
import { runDriverSeed } from "./sim/driver-run.js";
import { sweepDriverSeeds } from "./sim/driver-sweep.js";

const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 2000);
const TICKS = 100;

test(`driver simulation: ${SEEDS} seeds keep every invariant through crashes and lost disks`, async () => {
  const t0 = performance.now();
  // Seeds are independent: they run on worker threads (driver-sweep.ts), with the same sums.
  const { committed, totals, failures: failed } = await sweepDriverSeeds(1, SEEDS, { ticks: TICKS });
  for (const { seed } of failed)
    console.log(`# driver simulation: seed ${seed} FAILED (npm run raft:sim -- --replay ${seed})`);
  const failures = failed.map(({ seed, violation }) => `seed ${seed}: ${violation}`);
  console.log(
    `# driver simulation: ${SEEDS} seeds in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${JSON.stringify(totals)}`,
  );
  assert.deepEqual(failures.slice(0, 10), [], "failing seeds (npm run raft:sim -- --replay SEED)");
  // Not vacuous: work committed, and every kind of fault and check actually happened.
  assert.ok(committed > SEEDS * 5, `only ${committed} entries committed`);
  for (const k of [
    "crashInTruncation",
    "crashInSnapshotInstall",
    "crashInRoll",
    "powerReordered",
    "diskLosses",
    "readmitted",
    "staleIncarnation",
    "confChanges",
    "transfers",
    "readsChecked",
    // A third of the seeds run a rolling upgrade (mixed feature levels).
    "levelProposals",
    "levelRaises",
    "upgrades",
    // Builds below a committed level hold their Raft role blocked (driver.ts holdAtBlock).
    "levelBlocks",
  ]) {
    assert.ok((totals[k] ?? 0) > SEEDS / 50, `${k}: only ${totals[k] ?? 0} across ${SEEDS} seeds`);
  }
});

test("driver simulation: seed 5534 (two segment rolls in one group commit, then a power loss with writeback) restarts every node", async () => {
  // The group commit wrote a middle segment before the oldest one's tail was durable; writeback
  // persisted the middle one and tore the oldest, and n3 refused to restart (StorageCorruptError
  // in an earlier segment). storage-faults.test.ts covers the mechanism at every step.
  const r = await runDriverSeed(5534);
  assert.deepEqual(r.violations, [], "seed 5534 (npm run raft:sim -- --replay 5534)");
  assert.ok(r.stats.crashInRoll > 0 && r.stats.powerReordered > 0, "seed 5534 no longer crashes in a roll");
});

test("driver simulation: seed 20199 (a replacement cut off by a new leader) readmits the member's new disk", async () => {
  // n4 lost its disk; a leader proposed n4 as a learner under its new directory n4.1 and lost
  // leadership before it committed. Followers that had appended it rolled it back, and the
  // rollback retired n4.1 (a change from n4.1 back to n4.0): the next leader, n1, then dropped
  // every answer of n4.1 as a retired directory's and never readmitted it.
  const r = await runDriverSeed(20199);
  assert.deepEqual(r.violations, [], "seed 20199 (npm run raft:sim -- --replay 20199)");
  assert.ok(r.stats.diskLosses > 0 && r.stats.readmitted > 0, "seed 20199 no longer readmits a lost disk");
});

test("driver simulation: a run is deterministic for its seed", async () => {
  const a = await runDriverSeed(77, { trace: true, ticks: 60 });
  const b = await runDriverSeed(77, { trace: true, ticks: 60 });
  assert.ok(a.trace.length > 100, "seed 77 produced almost no trace");
  assert.deepEqual(a.trace, b.trace, "seed 77 traces differ between runs");
});

test("driver simulation: seeds that found the gaps of re-admission above the Raft layer recover (32, 72, 352, 379, 1859)", async () => {
  // 32, 72, 352: a re-admitted voter installed a snapshot past its promotion and never voted
  // again (fixed then by a snapshot rule in the driver; now the configuration names it).
  // 1859: a learner promoted while a voter was being re-admitted counted toward quorums before
  // it could vote; the leader crashed and the cluster stalled (the simulator then refused such
  // promotions: removed). 379: re-admission depended on how often learners hear the leader.
  // (Seed 346 found this design's first version refusing the vote of an intact voter whose
  // own log had lost its promotion; the random streams have moved since: incarnation.test.ts
  // keeps that case.)
  for (const seed of [32, 72, 352, 379, 1859]) {
    const r = await runDriverSeed(seed);
    assert.deepEqual(r.violations, [], `seed ${seed} (npm run raft:sim -- --replay ${seed})`);
    assert.ok(r.stats.readmitted > 0, `seed ${seed} no longer exercises a re-admission`);
  }
});
