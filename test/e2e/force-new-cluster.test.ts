// Issue 9: a lost disk on a MAJORITY of voters. The one manual step: `shardgate ctl recover
// --force-new-cluster` on a stopped survivor. It comes back alone as the leader with every
// change it had (a committed drain); the others, started on empty data directories, rejoin
// and are promoted back to voters by themselves.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { closeFleet, type Fleet, member, startFleet } from "../support/cluster/fleet-fixture.js";
import { testSeed } from "../support/prng.js";
import { ShardgateChild } from "../support/shardgate-process.js";

const SEED = testSeed(9010);

describe("majority disk loss: ctl recover --force-new-cluster", () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet({ seed: SEED, ids: ["a", "b", "c"], voters: 3 });
  });
  after(() => closeFleet(fleet));

  test("the survivor leads alone with its state; the others rejoin as voters", async () => {
    const { cluster, ups } = fleet;
    const c0 = await cluster.waitConverged();
    const target = ups.ids[Math.floor(fleet.random() * ups.ids.length)];
    const d = await cluster.adminPost(
      cluster.node(c0.leader),
      `/admin/pools/catalog/members/${target}/drain`,
    );
    assert.equal(d.status, 200, fleet.why(d.text));
    await cluster.waitAll("drain applied", (s) => member(s, "catalog", target)?.draining === true);
    const survivor = cluster.nodes[Math.floor(fleet.random() * 3)];
    await Promise.all(cluster.nodes.map((n) => cluster.kill9(n)));
    for (const n of cluster.nodes)
      if (n !== survivor) rmSync(n.spec.dataDir, { recursive: true, force: true });

    const tool = new ShardgateChild(
      ["ctl", "recover", "--force-new-cluster", "--config", survivor.configPath, ...survivor.args],
      {
        env: { ...survivor.env, SHARDGATE_CLUSTER_SECRET: cluster.secret },
      },
    );
    const r = await tool.waitExit(30_000);
    assert.equal(r.code, 0, fleet.why(tool.output()));
    assert.match(tool.output(), /"removedVoters":\[/);

    await cluster.restart(survivor);
    const alone = await cluster.waitConverged({
      nodes: [survivor],
      timeoutMs: 20_000,
      accept: (s) => s.raft.leader === survivor.id && member(s, "catalog", target)?.draining === true,
    });
    assert.deepEqual(alone.states.get(survivor.id)?.raft.voters, [survivor.id]);

    for (const n of cluster.nodes) if (n !== survivor) await cluster.restart(n);
    const all = await cluster.waitAll(
      "every instance a voter again, with the drain",
      (s) =>
        s.raft.voters.length === 3 &&
        s.raft.learners.length === 0 &&
        member(s, "catalog", target)?.draining === true,
      { timeoutMs: 30_000 },
    );
    assert.equal(new Set([...all.values()].map((s) => s.ringVersion)).size, 1, fleet.why("one ring version"));
  });
});
