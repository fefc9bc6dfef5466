// The leader's side of a snapshot the transport lost (RaftNode.reportSnapshotLost, after etcd's
// ReportSnapshot with SnapshotFailure), in the pure core, counted in ticks. Before, a lost
// snapshot was resent only after the snapshot's own wait, 2 election timeouts. Now the report
// moves the follower to probe with its probe paused: the next heartbeat answer sends the
// snapshot again; a follower that answers nothing (dead) is sent no other snapshot; a report
// about another snapshot than the one in flight changes nothing. Deterministic.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };
const ELECTION = 10;

/** a leads, c misses 10 entries that a compacts away; a's snapshots to c are counted, and lost while `lose` says so. */
function snapshotNeeded(): { net: SyncNet; sent: () => number; lose: (on: boolean) => void; index: number } {
  const net = new SyncNet(["a", "b", "c"], ABC, { electionTick: ELECTION });
  net.elect("a");
  net.isolate("c");
  for (let i = 0; i < 10; i++) net.get("a").propose(text(`e${i}`));
  net.stabilize();
  const a = net.nodes.get("a")!;
  a.storage.compact(a.storage.lastIndex(), text("state"));
  const index = a.storage.lastIndex();
  net.recover();
  let sent = 0;
  let losing = true;
  net.filter = (m) => {
    if (m.type !== "snap" || m.to !== "c") return true;
    sent++;
    return !losing;
  };
  return { net, sent: () => sent, lose: (on) => (losing = on), index };
}

test("a lost snapshot is sent again at the next heartbeat answer, not after 2 election timeouts", () => {
  const { net, sent, lose, index } = snapshotNeeded();
  const a = net.get("a");
  net.tick(ELECTION); // c answers a heartbeat: a sends the snapshot, which is lost
  assert.equal(sent(), 1, "one snapshot sent");
  assert.equal(a.status().progress.get("c")?.state, "snapshot");
  lose(false);
  a.reportSnapshotLost("c", index);
  assert.equal(a.status().progress.get("c")?.state, "probe", "back to probe on the report");
  // c is a voter: every heartbeat reaches it, and its first answer brings the snapshot again.
  net.tick(2);
  assert.equal(sent(), 2, "resent within 2 ticks of the report");
  assert.equal(net.get("c").status().commit, a.status().commit, "c caught up from it");
  assert.equal(a.status().progress.get("c")?.state, "replicate");
});

test("a dead follower's lost snapshot is not resent until it answers, and a stale report changes nothing", () => {
  const { net, sent, index } = snapshotNeeded();
  const a = net.get("a");
  net.tick(ELECTION);
  assert.equal(sent(), 1);
  // A report about an older snapshot than the one in flight is ignored.
  a.reportSnapshotLost("c", index - 1);
  assert.equal(a.status().progress.get("c")?.state, "snapshot", "a stale report moved c");
  a.reportSnapshotLost("c", index);
  net.isolate("c"); // dead from here: it answers nothing
  net.tick(4 * ELECTION);
  assert.equal(sent(), 1, `${sent() - 1} snapshots resent to a follower that answers nothing`);
  assert.equal(a.status().progress.get("c")?.state, "probe");
  assert.equal(net.leader(), "a");
});
