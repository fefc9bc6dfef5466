// The core's reportUnreachable (after etcd's ReportUnreachable): the transport says a peer
// cannot be reached, and the leader stops pipelining to it. Before, a leader kept a dead peer
// in replicate state and sent it an append per proposal until its in-flight window (64) was
// full; now it probes: one append until the peer answers. Only what the leader sends changes:
// the others still commit every entry, and the peer, once back, is probed to where its log
// ends and catches up.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "../../config/raft/core/index.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC = { voters: ["a", "b", "c"], learners: [] };
const PROPOSALS = 100;

test("a leader told a peer is unreachable probes it with one append, and commits as before", () => {
  const net = new SyncNet(["a", "b", "c"], ABC, { preVote: false, checkQuorum: false });
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  assert.equal(a.status().progress.get("c")?.state, "replicate");

  // c goes down: nothing reaches it or comes from it; the transport reports it.
  const toC: Message[] = [];
  net.filter = (m) => {
    if (m.to === "c") toC.push(m);
    return m.to !== "c" && m.from !== "c";
  };
  net.get("b").reportUnreachable("c"); // a follower: nothing to change
  a.reportUnreachable("a"); // itself: nothing to change
  a.reportUnreachable("c");
  assert.equal(a.status().progress.get("c")?.state, "probe");
  for (let i = 0; i < PROPOSALS; i++) {
    a.propose(text(`p${i}`));
    net.stabilize();
  }
  const appends = toC.filter((m) => m.type === "app");
  assert.equal(appends.length, 1, `appends sent to the unreachable c: ${appends.length}`);
  assert.equal(a.status().progress.get("c")?.state, "probe");
  // What the leader commits is unchanged: a and b hold and apply every proposal.
  assert.equal(net.appliedText("b").length, PROPOSALS + 1);
  assert.equal(a.status().commit, a.status().lastIndex);

  // Back: a heartbeat's answer lets the probe find where c's log ends; c catches up.
  net.recover();
  net.tick(1, ["a"]);
  net.stabilize();
  assert.equal(a.status().progress.get("c")?.state, "replicate");
  assert.equal(a.status().progress.get("c")?.match, a.status().lastIndex);
  assert.deepEqual(net.appliedText("c"), net.appliedText("a"));
});
