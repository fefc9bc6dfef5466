// Focused tests for learners, single-server membership changes (thesis §4.1) and leadership
// transfer (thesis §3.10).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  encodeConfChange,
  MemoryStorage,
  newMessage,
  ProposalDropped,
  RaftNode,
} from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("learners receive the log but are not counted in the quorum", () => {
  const net = new SyncNet(["a", "b", "c"], { voters: ["a", "b"], learners: ["c"] });
  net.elect("a");
  net.cut("a", "b");
  const r = net.get("a").propose(text("x"));
  net.stabilize();
  assert.equal(net.get("c").lastLogId().index, r.index, "the learner did not receive the entry");
  assert.ok(net.get("a").status().commit < r.index, "a learner's copy was counted towards commit");
  net.recover();
  net.tick(2);
  assert.ok(net.get("a").status().commit >= r.index);
  assert.deepEqual(net.appliedText("c"), ["x"], "the learner did not apply the committed entry");
  assert.equal(net.get("c").status().isLearner, true);
});

test("a joining node is added as learner, promoted, then an old voter is removed — one change at a time", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.add("d"); // joins with empty storage
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  a.proposeConfChange({ type: "addLearner", node: "d" });
  // The new configuration is used as soon as it is appended, before it commits.
  assert.deepEqual(a.status().conf.learners, ["d"]);
  assert.throws(
    () => a.proposeConfChange({ type: "addVoter", node: "d" }),
    (e: unknown) => e instanceof ProposalDropped && /uncommitted/.test(e.reason),
  );
  net.stabilize();
  assert.deepEqual(net.appliedText("d"), ["before"], "the learner did not catch up (snapshot + entries)");
  a.proposeConfChange({ type: "addVoter", node: "d" });
  net.stabilize();
  assert.deepEqual(net.get("d").status().conf.voters, ["a", "b", "c", "d"]);
  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  for (const id of ["a", "b", "d"])
    assert.deepEqual(net.get(id).status().conf, { voters: ["a", "b", "d"], learners: [] });
  // The removed node cannot disrupt the cluster: the others' leader lease ignores it.
  const term = a.status().term;
  net.tick(60);
  assert.equal(net.leader(), "a");
  assert.equal(a.status().term, term, "the removed node disrupted the leader");
  a.propose(text("after"));
  net.stabilize();
  assert.deepEqual(net.appliedText("d"), ["before", "after"]);
});

test("invalid or premature conf changes are refused with a reason", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  const a = net.get("a");
  a.campaign();
  net.stabilize();
  assert.throws(() => a.proposeConfChange({ type: "addVoter", node: "b" }), /already a voter/);
  assert.throws(() => a.proposeConfChange({ type: "removeNode", node: "zz" }), /not a member/);
  assert.throws(() => a.proposeConfChange({ type: "addLearner", node: "" }), /non-empty/);
  // A brand-new leader must commit an entry of its term first (Ongaro's raft-dev fix).
  const single = new RaftNode({
    id: "s",
    storage: new MemoryStorage({ voters: ["s", "t"], learners: [] }),
    seed: 1,
  });
  single.campaign();
  single.step(newMessage({ type: "preVoteResp", from: "t", to: "s", term: 2 }));
  single.step(newMessage({ type: "voteResp", from: "t", to: "s", term: 2 }));
  assert.equal(single.status().role, "leader");
  assert.throws(
    () => single.proposeConfChange({ type: "addLearner", node: "u" }),
    /not yet committed an entry in its term/,
  );
});

test("a leader that removes itself keeps leading until the change commits, then steps down", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  net.filter = (m) => m.type !== "appResp"; // hold the commit back
  a.proposeConfChange({ type: "removeNode", node: "a" });
  net.stabilize();
  assert.equal(a.status().role, "leader", "stepped down before the removal committed");
  assert.throws(() => a.propose(text("x")), /being removed/);
  net.recover();
  net.tick(1);
  assert.equal(a.status().role, "follower", "did not step down after its removal committed");
  net.tick(40);
  const leader = net.leader();
  assert.ok(leader === "b" || leader === "c", `no leader among the remaining voters (${leader})`);
  assert.deepEqual(net.get(leader!).status().conf.voters, ["b", "c"]);
});

test("a conf entry that gets truncated reverts the follower's configuration", () => {
  const storage = new MemoryStorage(ABC);
  const f = new RaftNode({ id: "b", storage, seed: 1 });
  const cc = encodeConfChange({ type: "addLearner", node: "d" });
  f.step(
    newMessage({
      type: "app",
      from: "a",
      to: "b",
      term: 2,
      index: 1,
      logTerm: 1,
      entries: [{ index: 2, term: 2, type: "conf", data: cc }],
      commit: 1,
    }),
  );
  assert.deepEqual(f.status().conf.learners, ["d"], "conf not applied on append");
  f.step(
    newMessage({
      type: "app",
      from: "c",
      to: "b",
      term: 3,
      index: 1,
      logTerm: 1,
      entries: [{ index: 2, term: 3, type: "normal", data: text("n") }],
      commit: 1,
    }),
  );
  assert.deepEqual(f.status().conf.learners, [], "truncated conf entry still in effect");
  assert.equal(f.termAt(2), 3);
});

test("leadership transfer to an up-to-date voter", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const term = net.get("a").status().term;
  net.get("a").transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b");
  assert.equal(net.get("b").status().term, term + 1);
  assert.equal(net.get("a").status().role, "follower");
});

test("leadership transfer catches a lagging target up first and refuses proposals meanwhile", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.cut("a", "b");
  for (let i = 0; i < 5; i++) net.get("a").propose(text(`p${i}`));
  net.stabilize();
  net.recover();
  net.filter = (m) =>
    m.type !== "timeoutNow" || net.get("b").lastLogId().index === net.get("a").lastLogId().index;
  net.get("a").transferLeadership("b");
  assert.throws(() => net.get("a").propose(text("during")), /transfer in progress/);
  net.stabilize();
  assert.equal(net.leader(), "b");
  assert.deepEqual(net.appliedText("b"), ["p0", "p1", "p2", "p3", "p4"]);
});

test("leadership transfer aborts after an election timeout when the target is unreachable", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.isolate("b");
  const a = net.get("a");
  a.transferLeadership("b");
  assert.equal(a.status().leadTransferee, "b");
  net.tick(10);
  assert.equal(a.status().leadTransferee, "", "transfer was not aborted");
  assert.equal(a.status().role, "leader");
  a.propose(text("ok again"));
  assert.throws(() => a.transferLeadership("zz"), /not a voter/);
});

test("a follower forwards a leadership transfer to the leader", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const term = net.get("a").status().term;
  net.get("c").transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b");
  assert.equal(net.get("b").status().term, term + 1);
  assert.throws(() => net.get("c").transferLeadership("zz"), /not a voter/);
  // Asking for the current leader is a no-op, not a new election.
  net.get("c").transferLeadership("b");
  net.stabilize();
  assert.equal(net.get("b").status().term, term + 1);
});

test("learners get a heartbeat once per election timeout, voters every round; commits still reach learners at once", () => {
  // electionTick 10, heartbeatTick 1 (SyncNet): learners hear every 10th round.
  const net = new SyncNet(["a", "b", "c", "l1", "l2"], { voters: ["a", "b", "c"], learners: ["l1", "l2"] });
  net.elect("a");
  net.delivered.length = 0;
  net.tick(20, ["a"]);
  const beats = (to: string) => net.delivered.filter((m) => m.type === "heartbeat" && m.to === to).length;
  assert.equal(beats("b"), 20);
  assert.equal(beats("c"), 20);
  assert.equal(beats("l1"), 2);
  assert.equal(beats("l2"), 2);
  // A commit goes to learners with the append that follows it, not with a later heartbeat.
  const r = net.get("a").propose(text("drain"));
  net.stabilize();
  assert.deepEqual(net.appliedText("l1"), ["drain"]);
  assert.ok(net.get("l2").status().commit >= r.index);
  // A learner that missed entries is caught up by the next heartbeat round that includes it.
  net.cut("a", "l1");
  net.get("a").propose(text("missed"));
  net.stabilize();
  net.recover();
  net.tick(10, ["a"]);
  assert.deepEqual(net.appliedText("l1"), ["drain", "missed"]);
});

test("a voter being replaced under a new incarnation hears every heartbeat round, as voters do", () => {
  const net = new SyncNet(["a", "b", "c", "l1"], { voters: ["a", "b", "c"], learners: ["l1"] });
  net.elect("a");
  net.loseDisk("c", "c1");
  // Replaced (learner, rejoin), but kept from catching up so that it stays a learner.
  net.filter = (m) =>
    !(m.to === "c" && m.type !== "heartbeat") && !(m.from === "c" && m.type !== "heartbeatResp");
  net.tick(1, ["a"]);
  assert.deepEqual(net.get("a").status().conf.rejoin, ["c"]);
  net.delivered.length = 0;
  net.tick(10, ["a"]);
  const beats = (to: string) => net.delivered.filter((m) => m.type === "heartbeat" && m.to === to).length;
  assert.equal(beats("c"), 10, "a rejoining learner heard fewer heartbeats than the voters");
  assert.equal(beats("l1"), 1);
});
