// A configuration change cut off from the log never happened, for the retired data directories
// too. d left on directory "d1"; a, isolated, appended a re-add of d that a later leader cut off.
// That re-add had taken d's record of leaving (the directory it left on) from a's live list, and
// the cut kept it gone, while a restart (which replays the log) has it. So a, leading again and
// re-adding d on its new disk "d2" (its join), did not retire d1, and a late answer of d1's dead
// process made a switch d back to d1: the live d2 dropped for a dead directory. Now a cut
// rebuilds the list from the log kept, as a restart does.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn, newMessage } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABCD: ConfState = { voters: ["a", "b", "c", "d"], learners: [] };

test("a re-add cut off from the log does not make a forget the directory d left on", () => {
  const net = new SyncNet(["a", "b", "c", "d"], ABCD);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  net.loseDisk("d", "d1");
  net.tick(4, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "d"), "d1", "a learned d's directory d1");
  a.proposeConfChange({ type: "removeNode", node: "d" });
  net.stabilize();
  assert.deepEqual(a.status().conf, { voters: ["a", "b", "c"], learners: [] }, "d left on d1");

  // a, cut off, appends a re-add of d that never commits; b or c leads and cuts a's entry off.
  net.isolate("a");
  const cut = a.proposeConfChange({ type: "addLearner", node: "d" });
  net.stabilize();
  net.tick(30, ["b", "c"]);
  const next = net.leader();
  assert.ok(next === "b" || next === "c", `b or c leads (${next})`);
  net.get(next).propose(text("the next term"));
  net.stabilize();
  // d1's process is gone: nothing of it is heard until its late answer below.
  net.recover();
  net.isolate("d");
  net.tick(3, [next]);
  assert.equal(a.termAt(cut.index), net.get(next).termAt(cut.index), "a's entry was replaced");
  assert.deepEqual(a.status().conf.learners, [], "a's re-add of d was cut off");

  // a leads again; d comes back on a new disk and joins: re-added under "d2".
  net.get(next).transferLeadership("a");
  net.stabilize();
  assert.equal(net.leader(), "a", "a leads again");
  net.loseDisk("d", "d2");
  net.recover();
  a.proposeConfChange({ type: "addLearner", node: "d", incarnation: "d2" });
  net.stabilize();
  assert.equal(incarnationIn(a.status().conf, "d"), "d2", "d re-added on d2");

  // A late answer of d1's dead process: d1 is the directory d left on, retired by the re-add.
  const term = a.status().term;
  a.step(newMessage({ type: "heartbeatResp", from: "d", to: "a", term, incarnation: "d1" }));
  net.stabilize();
  assert.equal(incarnationIn(a.status().conf, "d"), "d2", "a switched d back to d1's dead directory");
});
