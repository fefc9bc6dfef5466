// Issue 9, fixes 6 and 7: a leader that cannot commit refuses proposals and reads past its
// bounds at once (instead of queueing without limit), and a learner is promoted only once it
// has caught up (a lagging one counted toward the quorum at once could stall every commit).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  LEARNER_BEHIND,
  ProposalDropped,
  READS_FULL,
  UNCOMMITTED_FULL,
} from "../../config/raft/core/index.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC = { voters: ["a", "b", "c"], learners: [] };

test("a leader without a quorum refuses proposals past maxUncommittedBytes, and accepts again once they commit", () => {
  const net = new SyncNet(["a", "b", "c"], ABC, { maxUncommittedBytes: 1000 });
  net.elect("a");
  const a = net.get("a");
  net.isolate("a");
  let accepted = 0;
  let refused: unknown;
  for (let i = 0; i < 100 && refused === undefined; i++) {
    try {
      a.propose(new Uint8Array(100));
      accepted++;
    } catch (err) {
      refused = err;
    }
  }
  assert.ok(refused instanceof ProposalDropped && refused.reason === UNCOMMITTED_FULL, String(refused));
  assert.equal(accepted, 10, "exactly the bound's worth was accepted");
  const last = a.status().lastIndex;
  net.recover();
  net.stabilize();
  assert.ok(a.status().commit >= last, "the accepted ones commit once the quorum is back");
  a.propose(new Uint8Array(100));
});

test("a leader refuses reads past maxPendingReads while it cannot confirm them", () => {
  const net = new SyncNet(["a", "b", "c"], ABC, { maxPendingReads: 5 });
  net.elect("a");
  const a = net.get("a");
  net.isolate("a");
  for (let i = 0; i < 5; i++) a.readIndex(text(`r${i}`));
  assert.throws(
    () => a.readIndex(text("r5")),
    (e: unknown) => e instanceof ProposalDropped && e.reason === READS_FULL,
  );
});

test("a lagging learner is not promoted; it is once caught up, and the error says why", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.add("d");
  net.elect("a");
  const a = net.get("a");
  a.proposeConfChange({ type: "addLearner", node: "d" });
  net.stabilize();
  // d falls behind by 30 entries.
  net.cut("a", "d");
  for (let i = 0; i < 30; i++) a.propose(text(`w${i}`));
  net.stabilize();
  assert.throws(
    () => a.proposeConfChange({ type: "addVoter", node: "d" }),
    (e: unknown) =>
      e instanceof ProposalDropped &&
      e.reason.startsWith(LEARNER_BEHIND) &&
      /30 entries behind/.test(e.reason),
  );
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"]);
  net.recover();
  net.tick(3);
  a.proposeConfChange({ type: "addVoter", node: "d" });
  net.stabilize();
  assert.deepEqual(net.get("d").status().conf.voters, ["a", "b", "c", "d"]);
});

test("a silent learner is not promoted although its last acknowledgement is current; it is once it answers", () => {
  // Two-clusters seeds 287 and 425: a learner went down (or restarted on an empty directory,
  // whose replies are dropped), its match stayed current, and its promotion made a quorum of
  // voters that could not vote: nothing committed after the faults stopped.
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.add("d");
  net.elect("a");
  const a = net.get("a");
  a.proposeConfChange({ type: "addLearner", node: "d" });
  net.stabilize();
  net.isolate("d");
  net.tick(15, ["a", "b", "c"]);
  const d = a.status().progress.get("d");
  assert.ok(d !== undefined && a.status().commit - d.match <= 2, "d's acknowledgement is current");
  assert.throws(
    () => a.proposeConfChange({ type: "addVoter", node: "d" }),
    (e: unknown) =>
      e instanceof ProposalDropped &&
      e.reason.startsWith(LEARNER_BEHIND) &&
      /has not answered/.test(e.reason),
  );
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"]);
  net.recover();
  // Learners hear a heartbeat once per election timeout: within that d answers.
  net.tick(10);
  a.proposeConfChange({ type: "addVoter", node: "d" });
  net.stabilize();
  assert.deepEqual(net.get("d").status().conf.voters, ["a", "b", "c", "d"]);
});
