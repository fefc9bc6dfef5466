// A snapshot's retired list after a rolling upgrade to level 8. b was caught up by a snapshot
// while the fleet was at level 7 (the message carried no list), so b retired only c1 of c's
// replaced directories ("", c1, c2: c lost its disk three times) and c2 is missing from its list
// for good. Once the fleet is at 8 and b leads, d (which retired c2 itself, by its own log) is
// caught up by b's snapshot: taking b's list as it is would make d forget c2, so that, once d
// led, a late answer of c2's dead process would switch c back to a dead directory. The follower
// keeps what its own committed history retired beside the leader's list.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn, LEVEL_SNAPSHOT_RETIRED, newMessage } from "../../config/raft/core/index.js";
import { RETIRED_MAX, RetiredDirs, retiredStateProblem } from "../../config/raft/core/retired-dirs.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const IDS = ["a", "b", "c", "d", "e"];
const FIVE: ConfState = { voters: IDS, learners: [] };

test("a follower caught up by a leader whose list predates level 8 keeps what it retired itself", () => {
  const net = new SyncNet(IDS, FIVE, { clusterLevel: LEVEL_SNAPSHOT_RETIRED - 1 });
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  net.loseDisk("c", "c1");
  net.tick(4, ["a"]);

  // At level 7: b, cut off while c loses its disk twice more, is caught up by a's snapshot.
  const b = net.get("b");
  net.isolate("b");
  for (const inc of ["c2", "c3"]) {
    net.loseDisk("c", inc);
    net.cut("b", "c");
    net.tick(4, ["a"]);
    assert.equal(incarnationIn(a.status().conf, "c"), inc, `a learned c's directory ${inc}`);
  }
  let index = a.status().applied;
  net.nodes.get("a")!.storage.compact(index, text(`state@${index}`), a.retiredAt(index));
  net.recover();
  net.tick(3, ["a"]);
  assert.equal(b.lastIndex(), a.lastIndex(), "b caught up");
  assert.deepEqual(b.retiredNow().retired, [["c", ["", "c1"]]], "b's list lost c2 (level 7)");
  const d = net.get("d");
  assert.deepEqual(d.retiredNow().retired, [["c", ["", "c1", "c2"]]], "d retired c2 by its log");

  // The fleet commits level 8 and b leads; d, cut off, is caught up by b's snapshot.
  for (const n of net.nodes.values()) n.raft.setClusterLevel(LEVEL_SNAPSHOT_RETIRED);
  a.transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b", "b leads");
  net.isolate("d");
  const first = net.nodes.get("d")!.storage.firstIndex();
  b.propose(text("after"));
  net.stabilize();
  index = b.status().applied;
  net.nodes.get("b")!.storage.compact(index, text(`state@${index}`), b.retiredAt(index));
  net.recover();
  net.tick(3, ["b"]);
  assert.equal(d.lastIndex(), b.lastIndex(), "d caught up");
  assert.ok(net.nodes.get("d")!.storage.firstIndex() > first, "d caught up by a snapshot");
  const snap = net.delivered.find((m) => m.type === "snap" && m.to === "d");
  assert.ok(snap?.snapshot?.meta.retired !== undefined, "b's snapshot carried its list");
  // What d kept goes first (trimmed first, should c's set fill up), then b's list.
  assert.deepEqual(d.retiredNow().retired, [["c", ["c2", "", "c1"]]], "d still retires c2");
  assert.deepEqual(d.retiredAt(d.lastIndex()), d.retiredNow(), "a restart keeps it (the snapshot's)");

  // d leads; a late answer of c2's dead process is refused, not taken for a new disk.
  b.transferLeadership("d");
  net.stabilize();
  assert.equal(net.leader(), "d", "d leads");
  const term = d.status().term;
  d.step(newMessage({ type: "heartbeatResp", from: "c", to: "d", term, incarnation: "c2" }));
  net.stabilize();
  assert.equal(incarnationIn(d.status().conf, "c"), "c3", "c stays on its live directory c3");
});

// What the follower keeps of its own list (RetiredDirs.keep, a pure unit): only for ids the
// leader's list keeps, never a directory that would refuse a live or trusted process, and first
// to go when a set is full, so a list the leader's decoder would refuse is never made.
test("what a follower keeps of its own list never retires a live, trusted or last directory", () => {
  const conf: ConfState = {
    voters: ["a", "b", "c"],
    learners: [],
    incarnations: { b: "b3", c: "" },
  };
  const leader = RetiredDirs.from({
    retired: [
      ["a", Array.from({ length: RETIRED_MAX }, (_, i) => `a${i}`)],
      ["b", ["b1"]],
    ],
    departed: [["x", ["x0"], "x2"]],
    trusted: [["c", "c5"]],
  });
  const own = RetiredDirs.from({
    retired: [
      ["a", ["old"]],
      ["b", ["", "b2", "b3"]],
      ["c", ["c4", "c5"]],
      ["x", ["x1", "x2"]],
      ["y", ["y1"]],
    ],
    departed: [],
    trusted: [],
  });
  leader.keep(own, conf);
  const kept = leader.state();
  assert.deepEqual(kept.retired, [
    ["a", Array.from({ length: RETIRED_MAX }, (_, i) => `a${i}`)],
    ["b", ["", "b2", "b1"]],
    ["c", ["c4"]],
  ]);
  assert.deepEqual(kept.departed, [["x", ["x1", "x0"], "x2"]]);
  assert.deepEqual(kept.trusted, [["c", "c5"]]);
  assert.equal(retiredStateProblem(kept, conf), "", "the kept list passes a follower's decoder");
});
