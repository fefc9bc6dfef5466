// The leader's side of a refused snapshot, in the pure core, counted in ticks: a follower whose
// driver refuses every snapshot (RaftNode.refuseSnapshot instead of step, as
// config/raft/driver.ts does) answers with a snapStatus, and the leader waits 2 election
// timeouts, then 4, 8, 16 before the next, and sends at once when it holds a newer snapshot.
// Below LEVEL_SNAP_STATUS nothing is answered (a level-2 leader would refuse the whole payload)
// and the leader keeps its old pace: one snapshot per snapshot timeout. Deterministic.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LEVEL_SNAP_STATUS, type Message } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };
const ELECTION = 10;

/** a leads, c misses 10 entries that a compacts away: c needs a snapshot. c refuses every one. */
function refusingFollower(clusterLevel: number): { net: SyncNet; sent: () => number; answers: Message[] } {
  const net = new SyncNet(["a", "b", "c"], ABC, { electionTick: ELECTION, clusterLevel });
  net.elect("a");
  net.isolate("c");
  for (let i = 0; i < 10; i++) net.get("a").propose(text(`e${i}`));
  net.stabilize();
  const a = net.nodes.get("a")!;
  a.storage.compact(a.storage.lastIndex(), text("state"));
  net.recover();
  let sent = 0;
  const answers: Message[] = [];
  net.filter = (m) => {
    if (m.type === "snap" && m.to === "c") {
      sent++;
      net.get("c").refuseSnapshot(m, "bad_snapshot");
      return false;
    }
    if (m.type === "snapStatus") answers.push(m);
    return true;
  };
  return { net, sent: () => sent, answers };
}

test("a refused snapshot is answered and the leader backs off: 2, 4, 8, 16 election timeouts", () => {
  const { net, sent, answers } = refusingFollower(LEVEL_SNAP_STATUS);
  net.tick(30 * ELECTION);
  // Sends at about 0, 21, 62, 143 and 304 ticks: 4 in 30 election timeouts.
  assert.ok(sent() >= 2 && sent() <= 4, `${sent()} snapshots sent to a refusing follower in 300 ticks`);
  assert.equal(answers.length, sent(), "every refusal answered");
  assert.ok(
    answers.every((m) => m.reject && m.from === "c" && Buffer.from(m.context).toString() === "bad_snapshot"),
    "a reject naming the refusal's code",
  );
  assert.equal(net.leader(), "a", "the leader kept its lease through it");
  // A newer snapshot goes out at once, without waiting out the backoff.
  const before = sent();
  const a = net.nodes.get("a")!;
  a.raft.propose(text("newer"));
  net.stabilize();
  a.storage.compact(a.storage.lastIndex(), text("state2"));
  net.tick(2);
  assert.equal(sent(), before + 1, "the newer snapshot sent within 2 ticks");
  // c can restore again: the next snapshot installs and c catches up.
  net.filter = null;
  net.get("a").propose(text("newest"));
  net.stabilize();
  a.storage.compact(a.storage.lastIndex(), text("state3"));
  net.tick(2);
  assert.equal(net.get("c").status().commit, net.get("a").status().commit, "c caught up");
});

test("below LEVEL_SNAP_STATUS the follower answers nothing and the leader keeps its old pace", () => {
  const { net, sent, answers } = refusingFollower(LEVEL_SNAP_STATUS - 1);
  net.tick(30 * ELECTION);
  assert.equal(answers.length, 0, "no snapStatus to a fleet that may not read it");
  assert.ok(sent() >= 13, `one snapshot per snapshot timeout (21 ticks): ${sent()} in 300 ticks`);
});
