// An operator restarts a learner (a non-voting instance) on its own data directory and finds a
// warning in its log: "this data directory is not an admitted voter (new, or a voter that
// lost its disk): it will not vote until the leader re-admits it". A learner never votes; the
// line sends the operator after a disk problem that does not exist. Tried from the outside on
// a 1-voter + 1-learner fleet: printed at every learner start. Only a voter gets it now.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { closeFleet, type Fleet, startFleet } from "../support/cluster/fleet-fixture.js";
import { testSeed } from "../support/prng.js";

const SEED = testSeed(1207);
const NOT_ADMITTED = "this data directory is not an admitted voter";

let fleet: Fleet;
before(async () => {
  fleet = await startFleet({ seed: SEED, ids: ["a", "b"], voters: 1 });
});
after(async () => {
  await closeFleet(fleet);
});

test("a learner's start and restart log no 'not an admitted voter' warning", {
  timeout: 120_000,
}, async () => {
  const learner = fleet.cluster.node("b");
  assert.equal(learner.voter, false);
  await fleet.cluster.waitConverged({ timeoutMs: 30_000 });
  await fleet.cluster.kill9(learner);
  await fleet.cluster.restart(learner);
  await fleet.cluster.waitConverged({ timeoutMs: 30_000 });
  const warned = fleet.cluster.nodes.flatMap((n) =>
    n
      .logLines((l) => typeof l.msg === "string" && l.msg.startsWith(NOT_ADMITTED))
      .map((l) => `${n.id}: ${l.msg}`),
  );
  assert.deepEqual(warned, [], fleet.why("no instance of a healthy fleet warns it is not an admitted voter"));
});
