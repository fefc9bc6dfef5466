// A member removed and added back under its id WITHOUT naming a data directory, its process still
// running on the same one: the admin API's add-learner and the leader's tendMembership (a
// configured learner that is not in the configuration) add members this way. The leader learns
// the member's incarnation from its first answer (maybeReplace). 4f2260b kept what a departed
// member had as "retired" for a re-add, including its own live directory, so the leader refused
// to learn it: every answer of the re-added member was dropped as another directory's, for the
// rest of the term (its acks never counted, it never caught up).
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "../raft/sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("a member removed and re-added without an incarnation, on the same disk, is learned again and catches up", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  // c runs on data directory "c1" (it lost its disk once): the leader records it.
  net.loseDisk("c", "c1");
  net.tick(4, ["a"]);
  net.stabilize();
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  const term = a.status().term;

  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  assert.deepEqual(a.status().conf.voters, ["a", "b"]);
  // The same c1 process is added back as a learner, no directory named (admin add-learner).
  a.proposeConfChange({ type: "addLearner", node: "c" });
  net.stabilize();
  assert.deepEqual(a.status().conf.learners, ["c"]);
  for (let i = 0; i < 3; i++) {
    a.propose(text(`after-${i}`));
    net.tick(3, ["a"]);
    net.stabilize();
  }
  assert.equal(a.status().term, term, "one leader and term throughout");
  assert.equal(
    incarnationIn(a.status().conf, "c"),
    "c1",
    "the leader never learned re-added c's data directory (c1 kept as retired)",
  );
  const pr = a.status().progress.get("c");
  assert.equal(pr?.match, a.status().lastIndex, `c's acks do not count: ${JSON.stringify(pr)}`);
  assert.ok(net.appliedText("c").includes("after-2"), "c applied the entries proposed after its re-add");
});
