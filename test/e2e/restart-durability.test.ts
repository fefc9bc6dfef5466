// Issue 9, fix 8: a restarted instance never goes back in time. Three real shardgate
// processes; a drain is committed and applied everywhere; kill -9 all three at once; start one
// alone (no quorum: a whole-site power cycle with nodes returning one by one). It must come
// back on the ring version it served, with the member still draining, before it answers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { closeFleet, type Fleet, member, startFleet } from "../support/cluster/fleet-fixture.js";
import { testSeed } from "../support/prng.js";

const SEED = testSeed(9008);

describe("restart without quorum (issue 9, fix 8)", () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet({ seed: SEED, ids: ["a", "b", "c"], voters: 3 });
  });
  after(() => closeFleet(fleet));

  test("an instance restarted alone serves the ring version it served before kill -9", async () => {
    const { cluster, ups } = fleet;
    const c0 = await cluster.waitConverged();
    const target = ups.ids[Math.floor(fleet.random() * ups.ids.length)];
    const leader = cluster.node(c0.leader);
    const r = await cluster.adminPost(leader, `/admin/pools/catalog/members/${target}/drain`);
    assert.equal(r.status, 200, fleet.why(r.text));
    const states = await cluster.waitAll(
      `catalog/${target} draining`,
      (s) => member(s, "catalog", target)?.draining === true,
    );
    const served = Math.max(...[...states.values()].map((s) => s.ringVersion));
    assert.ok(
      [...states.values()].every((s) => s.ringVersion === served),
      fleet.why("one ring version"),
    );
    await Promise.all(cluster.nodes.map((n) => cluster.kill9(n)));
    const c = cluster.nodes.find((n) => n.id !== c0.leader) ?? cluster.nodes[2];
    await cluster.restart(c);
    // The first answer after the restart already reflects what was served before.
    const s = await cluster.stateOf(c);
    assert.ok(
      s.ringVersion >= served,
      fleet.why(`${c.id} came back at ring version ${s.ringVersion}, it served ${served}`),
    );
    assert.equal(member(s, "catalog", target)?.draining, true, fleet.why(`${target} draining on ${c.id}`));
    // Start the others so the fleet closes normally (and converges on the same state).
    for (const n of cluster.nodes) if (!n.alive) await cluster.restart(n);
    const done = await cluster.waitConverged({ timeoutMs: 30_000 });
    assert.ok(done.ringVersion >= served, fleet.why("converged state kept the drain"));
  });
});
