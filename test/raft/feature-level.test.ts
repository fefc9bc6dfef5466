// The version gate in the pure core (config/raft/core/feature-level.ts): responses carry the
// sender's feature level; the leader's fleet level is the minimum over every member it heard
// this term, never above its own; below level 1 a conf change naming an incarnation is refused,
// so a voter that lost its disk is kept out (it never counts) instead of being replaced in a
// form older members would skip, and the leader replaces it by itself once the level is there.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CURRENT_LEVEL,
  decodeMessages,
  encodeMessages,
  incarnationIn,
  LEVEL_SNAPSHOT_RETIRED,
  LEVEL_TOO_LOW,
  newMessage,
  ProposalDropped,
  RaftNode,
  RELEASED_LEVEL,
} from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("responses carry the level in the commit slot; the released version's (slot 0) read as level 0", () => {
  const resp = newMessage({ type: "heartbeatResp", from: "b", to: "a", term: 3, level: 7 });
  const [back] = decodeMessages(encodeMessages([resp]));
  assert.equal(back.level, 7);
  assert.equal(back.commit, 0);
  const old = newMessage({ type: "appResp", from: "b", to: "a", term: 3, index: 9 });
  assert.equal(decodeMessages(encodeMessages([old]))[0].level, RELEASED_LEVEL);
  // Other types keep their commit and carry no level.
  const hb = newMessage({ type: "heartbeat", from: "a", to: "b", term: 3, commit: 5, level: 9 });
  const [hbBack] = decodeMessages(encodeMessages([hb]));
  assert.equal(hbBack.commit, 5);
  assert.equal(hbBack.level, 0);
});

test("the leader's fleet level is the minimum it heard, and no member pushes it above its own", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.get("a").propose(text("x"));
  net.stabilize();
  const a = net.get("a");
  assert.equal(a.fleetLevel(), CURRENT_LEVEL, "every member answered at this build's level");
  const term = a.status().term;
  const say = (from: string, level: number) =>
    a.step(newMessage({ type: "heartbeatResp", from, to: "a", term, level }));
  say("c", 0);
  assert.equal(a.fleetLevel(), 0);
  assert.equal(a.memberLevel("c"), 0);
  say("c", 999);
  say("b", 999);
  assert.equal(a.fleetLevel(), CURRENT_LEVEL, "capped by the leader's own level");
  assert.equal(net.get("b").fleetLevel(), undefined, "a follower decides nothing");
});

test("below level 1 a voter that lost its disk is kept out, not replaced; at level 1 the leader replaces it", () => {
  const net = new SyncNet(["a", "b", "c"], ABC, { clusterLevel: RELEASED_LEVEL });
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  net.loseDisk("c", "c1");
  net.tick(3, ["a"]);
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"], "no conf change at level 0");
  assert.equal(incarnationIn(a.status().conf, "c"), "", "c still names its founder directory");
  assert.throws(
    () => a.replaceIncarnation("c", "c1"),
    (e: unknown) => e instanceof ProposalDropped && e.reason.startsWith(LEVEL_TOO_LOW),
  );
  assert.throws(
    () => a.proposeConfChange({ type: "addLearner", node: "d", incarnation: "d1" }),
    (e: unknown) => e instanceof ProposalDropped && e.reason.startsWith(LEVEL_TOO_LOW),
  );
  // The old form (no incarnation) still goes: a founder's learner.
  net.add("d");
  a.proposeConfChange({ type: "addLearner", node: "d" });
  net.stabilize();
  assert.deepEqual(a.status().conf.learners, ["d"]);
  // The fleet still commits with a and b; c's empty log counts for nothing.
  a.propose(text("while c is out"));
  net.stabilize();
  assert.deepEqual(net.appliedText("b"), ["before", "while c is out"]);
  assert.deepEqual(net.appliedText("c"), [], "the new incarnation got nothing it could ack");

  // The level is committed (the driver applies it and tells the core): the leader replaces c.
  for (const id of ["a", "b", "c", "d"]) net.get(id).setClusterLevel(CURRENT_LEVEL);
  net.tick(1, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  net.tick(3, ["a"]);
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"]);
  assert.deepEqual(net.appliedText("c"), ["before", "while c is out"]);
});

test("a snapshot carries the retired list only to a member that advertised level 8, whatever the fleet's level", () => {
  // c runs a level-7 build in a fleet whose committed level is 8 (it joined a fleet past it):
  // a frame with the list would be refused whole, and c would never catch up; without it c
  // installs the snapshot (and its driver stops at the level it cannot read, with its reason).
  const old = LEVEL_SNAPSHOT_RETIRED - 1;
  const net = new SyncNet(["a", "b", "c", "d", "e"], { voters: ["a", "b", "c", "d", "e"], learners: [] });
  const c = net.nodes.get("c")!;
  c.raft = new RaftNode({
    electionTick: 10,
    heartbeatTick: 1,
    id: "c",
    storage: c.storage,
    seed: 1,
    level: old,
  });
  net.elect("a");
  const a = net.get("a");
  a.propose(text("x"));
  net.stabilize();
  assert.equal(a.status().clusterLevel, CURRENT_LEVEL);
  assert.equal(a.memberLevel("c"), old);
  // b and c miss y (a commits it with d and e), and a compacts past it.
  net.isolate("b");
  net.isolate("c");
  a.propose(text("y"));
  net.stabilize();
  const index = a.status().applied;
  net.nodes.get("a")!.storage.compact(index, text("s"), a.retiredAt(index));
  net.recover();
  net.tick(3, ["a"]);
  const snapTo = (to: string) => net.delivered.find((m) => m.type === "snap" && m.to === to);
  const toB = snapTo("b");
  const toC = snapTo("c");
  assert.ok(toB !== undefined && toC !== undefined, "b and c caught up by a snapshot");
  assert.notEqual(toB.snapshot?.meta.retired, undefined, "b, at level 8, got the list");
  assert.equal(toC.snapshot?.meta.retired, undefined, "c, at level 7, got none");
  assert.equal(decodeMessages(encodeMessages([toC]), old).length, 1, "c's build reads its frame");
  assert.throws(() => decodeMessages(encodeMessages([toB]), old), /unknown flags/, "b's it would refuse");
  assert.equal(c.raft.lastIndex(), a.lastIndex(), "c caught up");
});
