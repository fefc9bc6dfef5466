// Issue 9, fix 2: the disk-loss scenario with real processes. Three voters with fault
// injection: cut S off; drain a member through the leader L (committed on L and T); kill -9 T
// and delete its data directory; cut L off; heal S; start T again with the same config (no
// --bootstrap: a rescheduled pod); heal L. T must not come back as a founding voter with an
// empty log (it would vote for the stale S, which would then overwrite the committed drain):
// the drain survives on every instance, all agree on one ring version, and T is back as an
// admitted voter within 10 s of its restart, without any operator command.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { closeFleet, type Fleet, member, startFleet } from "../support/cluster/fleet-fixture.js";
import { DEBUG_CUT_PATH, DEBUG_HEAL_PATH, type FleetNode } from "../support/cluster-launcher.js";
import { testSeed } from "../support/prng.js";

const SEED = testSeed(9002);
const BACK_AS_VOTER_MS = 10_000;

describe("a voter that lost its disk rejoins by itself (issue 9, fix 2)", () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet({ seed: SEED, ids: ["a", "b", "c"], voters: 3 });
  });
  after(() => closeFleet(fleet));

  test("the committed drain survives, one ring version, T back as a voter within 10 s", async () => {
    const { cluster, ups } = fleet;
    const c0 = await cluster.waitConverged();
    const L = cluster.node(c0.leader);
    const others = cluster.nodes.filter((n) => n !== L);
    const pick = Math.floor(fleet.random() * 2);
    const S = others[pick];
    const T = others[1 - pick];
    const target = ups.ids[Math.floor(fleet.random() * ups.ids.length)];
    const post = async (n: FleetNode, path: string) => {
      const r = await cluster.adminPost(n, path, {});
      assert.equal(r.status, 200, fleet.why(`${n.id} ${path}: ${r.text}`));
    };

    await post(S, DEBUG_CUT_PATH);
    const d = await cluster.adminPost(L, `/admin/pools/catalog/members/${target}/drain`);
    assert.equal(d.status, 200, fleet.why(d.text));
    const drainedAt = (d.body as { ringVersion: number }).ringVersion;
    await cluster.waitAll(
      "drain applied on L and T",
      (s) => member(s, "catalog", target)?.draining === true,
      {
        nodes: [L, T],
      },
    );

    await cluster.kill9(T);
    rmSync(T.spec.dataDir, { recursive: true, force: true });
    await post(L, DEBUG_CUT_PATH);
    await post(S, DEBUG_HEAL_PATH);
    await cluster.restart(T);
    // From the instant T serves again (its /healthz): its process start, which takes seconds on
    // a loaded machine, is not part of the re-admission.
    const restartedAt = performance.now();
    await post(L, DEBUG_HEAL_PATH);

    // T back as an admitted voter in everyone's configuration.
    await cluster.waitAll(
      `${T.id} back as an admitted voter`,
      (s) =>
        s.raft.voters.includes(T.id) &&
        !s.raft.learners.includes(T.id) &&
        (s.raft.id !== T.id || s.raft.admitted === true),
      { timeoutMs: 30_000 },
    );
    const backMs = performance.now() - restartedAt;
    console.log(`# ${T.id} back as a voter ${backMs.toFixed(0)} ms after it served again (seed ${SEED})`);
    const done = await cluster.waitConverged({
      timeoutMs: 20_000,
      accept: (s) => member(s, "catalog", target)?.draining === true,
    });
    assert.ok(done.ringVersion >= drainedAt, fleet.why(`ring version ${done.ringVersion} < ${drainedAt}`));
    for (const [id, s] of done.states) {
      assert.equal(member(s, "catalog", target)?.draining, true, fleet.why(`drain lost on ${id}`));
    }
    // The re-admission went through the learner stage (logged by every instance that applied it).
    const readmitted = cluster.logLines((l) => /re-admitting it as a learner/.test(String(l.msg)));
    assert.ok(readmitted.length > 0, fleet.why("the leader re-admitted T as a learner"));
    assert.ok(backMs < BACK_AS_VOTER_MS, fleet.why(`${T.id} back as a voter after ${backMs.toFixed(0)} ms`));
  });
});
