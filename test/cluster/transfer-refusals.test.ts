// `ctl leader transfer ID` refused before anything is asked of Raft says which mistake it was:
// a learner ("promote it first", the step that makes it a candidate) or an id the cluster does
// not know (the voters to pick from). Both used to read `"ID" is not a voter (voters: ...)`,
// the learner case not saying that the id is a member and what to do with it. Both keep the
// code 409 not_voter (ctl and scripts branch on it), and neither moves the leadership.
// Real processes (3 voters + 1 learner, test/support/cluster/fleet-fixture.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { closeFleet, type Fleet, startFleet } from "../support/cluster/fleet-fixture.js";
import { testSeed } from "../support/prng.js";

const SEED = testSeed(1212);

describe("leader transfer to an id that is not a voter", () => {
  let fleet: Fleet | undefined;

  before(async () => {
    fleet = await startFleet({ seed: SEED });
  });
  after(() => closeFleet(fleet));

  test("a learner is told to be promoted first; an unknown id gets the voters; the leader stays", async () => {
    const f = fleet as Fleet;
    const { cluster } = f;
    const c0 = await cluster.waitConverged();
    const live = cluster.live();
    const learner = live.find((n) => !n.voter);
    assert.ok(learner !== undefined, f.why("a learner in the fleet"));
    const voters = live
      .filter((n) => n.voter)
      .map((n) => n.id)
      .sort();
    // Asked of a seeded instance: the pre-check holds on any of them.
    const via = live[Math.floor(f.random() * live.length)];

    const toLearner = await cluster.adminPost(via, "/admin/cluster/transfer", { id: learner.id });
    assert.equal(toLearner.status, 409, f.why(`via ${via.id}: ${toLearner.text}`));
    const l = toLearner.body as { error: string; message: string };
    assert.equal(l.error, "not_voter", f.why(toLearner.text));
    assert.equal(
      l.message,
      `"${learner.id}" is a learner, not a voter: promote it first (ctl peers promote ${learner.id}), then transfer to it`,
      f.why(toLearner.text),
    );

    const ghost = `ghost-${Math.floor(f.random() * 1e6)}`;
    const toGhost = await cluster.adminPost(via, "/admin/cluster/transfer", { id: ghost });
    assert.equal(toGhost.status, 409, f.why(`via ${via.id}: ${toGhost.text}`));
    const g = toGhost.body as { error: string; message: string };
    assert.equal(g.error, "not_voter", f.why(toGhost.text));
    assert.equal(
      g.message,
      `"${ghost}" is not a member of the cluster; transfer to one of the voters: ${voters.join(", ")}`,
      f.why(toGhost.text),
    );

    const c1 = await cluster.waitConverged();
    assert.equal(c1.leader, c0.leader, f.why("the leadership did not move"));
  });
});
