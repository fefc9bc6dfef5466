// The driver simulator's upgrade block (driver.ts holdAtBlock, sim/level-block.ts), directed: a
// follower is cut off while a later version's entry commits on the two others, which block. Once
// the cut heals it must learn the commit index from the blocked leader's heartbeats and block too.
// When the model crashed a blocked node (the driver before 366dc6f), the two others were gone
// and the follower served on, never blocked: checkBlocksReported reported it stranded.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CURRENT_LEVEL } from "../../config/raft/core/index.js";
import { encodeLevel, KIND_LEVEL, wrapEntry } from "../../config/raft/driver/envelope.js";
import { seedNote, testSeed } from "../support/prng.js";
import { DriverSim } from "./sim/driver-sim.js";
import { checkBlocksReported } from "./sim/level-block.js";
import { RELIABLE } from "./sim/network.js";

const IDS = ["n1", "n2", "n3"];
/** Every build one level behind: the entry below is of a later version than any of them. */
const OLD = CURRENT_LEVEL - 1;

test("driver simulation: a follower cut off while a later version's entry commits blocks once the cut heals", async () => {
  const seed = testSeed(41);
  const note = seedNote(seed);
  const sim = new DriverSim({
    ids: IDS,
    voters: IDS,
    seed,
    levels: Object.fromEntries(IDS.map((id) => [id, OLD])),
    net: RELIABLE,
    raft: { preVote: true, checkQuorum: true },
  });
  await sim.startAll();
  const elected = await sim.runUntil(() => {
    sim.tendLevel();
    const l = sim.leader();
    return l !== null && IDS.every((id) => sim.node(id).clusterLevel === OLD);
  }, 200);
  assert.ok(elected, `no leader at level ${OLD} within 200 ticks (${note})`);
  const lead = sim.leader() as string;
  const [peer, cut] = IDS.filter((id) => id !== lead);
  sim.partition([[lead, peer], [cut]]);
  const raft = sim.node(lead).raft;
  assert.ok(raft !== null, note);
  // An entry of a later version than every build here, as an upgraded member would propose it.
  raft.propose(wrapEntry(KIND_LEVEL, 1, 1, 1, encodeLevel(CURRENT_LEVEL)));
  sim.afterInput(sim.node(lead));
  const blocked = await sim.runUntil(() => sim.node(lead).blocked && sim.node(peer).blocked, 100);
  assert.ok(blocked, `${lead} and ${peer} did not block at the committed entry (${note})`);
  assert.equal(sim.node(cut).blocked, false, `${cut} is cut off and cannot know yet (${note})`);
  sim.heal();
  await checkBlocksReported(sim);
  assert.deepEqual(sim.check.violations, [], note);
  assert.ok(sim.node(cut).blocked, `${cut} never reported the block (${note})`);
  assert.ok(sim.isUp(lead) && sim.isUp(peer), `the blocked nodes keep running (${note})`);
});
