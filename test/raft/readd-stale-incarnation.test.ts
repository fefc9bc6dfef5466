// A member removed and re-added under the same id naming no data directory: the leader trusts
// the directory it left on (the process still there may answer; raft-node.ts retireChanged).
// The reverse case: that process is dead, the member comes back on a new disk and the leader
// learns the new directory from its answers; then a stale message of the OLD process (a late
// ack, a heartbeat answer, one at a later term from a partition) arrives. Before, the leader took
// the old directory for yet another new disk and switched the member back to it (its progress
// reset to 0, the new process demoted and its answers dropped until the term ended); an old
// message at a later term deposed the leader. Now once another directory is learned, the one
// trusted for the re-add is retired like any replaced one: its messages are refused, before the
// term check too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn, type Message, newMessage } from "../../config/raft/core/index.js";
import { ABC, readdedOnNewDisk } from "./sim/readded-on-new-disk.js";
import { SyncNet, text } from "./sim/sync-net.js";

const fromOld = (type: Message["type"], term: number, index = 0): Message =>
  newMessage({ type, from: "c", to: "a", term, index, incarnation: "c1" });

for (const [what, make] of [
  ["a late ack", (term: number, last: number) => fromOld("appResp", term, last + 50)],
  ["a heartbeat answer", (term: number) => fromOld("heartbeatResp", term)],
  ["an ack at a later term", (term: number, last: number) => fromOld("appResp", term + 3, last + 50)],
] as const) {
  test(`re-added on a new disk: ${what} of the old directory changes nothing`, () => {
    const net = readdedOnNewDisk();
    const a = net.get("a");
    const before = a.status();
    const conf = before.conf;
    const match = before.progress.get("c")?.match ?? -1;
    assert.ok(match > 0, `c2 is replicated to before the stale message (match ${match})`);

    a.step(make(before.term, before.lastIndex));
    net.stabilize();
    net.tick(20, ["a"]);

    const after = a.status();
    assert.equal(net.leader(), "a", "the leader stepped down");
    assert.equal(after.term, before.term, "the stale message moved the term");
    assert.equal(incarnationIn(after.conf, "c"), "c2", "the leader switched c back to the old directory");
    assert.deepEqual(after.conf.voters, conf.voters, "c's voting status changed");
    const m = after.progress.get("c")?.match ?? -1;
    assert.ok(m >= match, `c's match went back from ${match} to ${m}`);
    assert.ok(m <= after.lastIndex, `c's match ${m} past the leader's last index ${after.lastIndex}`);
    assert.ok(after.commit <= after.lastIndex, "commit past the log");
    // The new directory still commits with the leader.
    const r = a.propose(text("still"));
    net.cut("a", "b");
    net.stabilize();
    assert.ok(a.status().commit >= r.index, "c2's acks no longer count");
  });
}

test("the trusted directory of a re-added member does not outlive its membership", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  net.loseDisk("c", "c1");
  net.tick(4, ["a"]);
  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  net.isolate("c");
  a.proposeConfChange({ type: "addLearner", node: "c" });
  net.stabilize();
  assert.deepEqual(a.leaderBookkeeping().trusted, ["c"]);
  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  assert.deepEqual(a.status().conf, { voters: ["a", "b"], learners: [] });
  assert.equal(net.leader(), "a");
  assert.deepEqual(a.leaderBookkeeping().trusted, [], "c's trusted directory outlived its membership");
});
