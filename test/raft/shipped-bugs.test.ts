// Bugs the best Raft implementations shipped (/work/shared/reference/raft-testing.md) that had
// no test of their own here yet, each driven through the real core on the synchronous network:
//   etcd-io/etcd#9586   no leader with pre-vote + check-quorum (a pre-candidate kept its old
//                       leader, so it ignored the other pre-candidate's pre-vote as in lease);
//   etcd-io/raft#25/#138 a heartbeat's commit above the follower's last index (its log lost a
//                       tail the leader's progress still counts) moved commit past the log;
//   databendlabs/openraft#511 an append whose prevLogIndex is already compacted (below the
//                       snapshot) truncated, and so lost, committed entries.
import assert from "node:assert/strict";
import { test } from "node:test";
import { newMessage } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("pre-vote + check-quorum: two followers that lost their leader elect one of them (etcd#9586)", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const term = net.get("a").status().term;
  net.isolate("a");
  // c's pre-vote reaches b while b still hears its leader: ignored (lease).
  net.get("c").campaign();
  net.stabilize();
  assert.equal(net.get("c").status().role, "preCandidate");
  // b campaigns too: c, a pre-candidate, no longer counts a as its leader and must grant.
  net.get("b").campaign();
  net.stabilize();
  const s = { b: net.get("b").status(), c: net.get("c").status() };
  const leaders = (["b", "c"] as const).filter((id) => s[id].role === "leader");
  assert.equal(leaders.length, 1, `no leader among b and c: b=${s.b.role}, c=${s.c.role}`);
  assert.ok(s[leaders[0]].term > term);
  net.recover();
  net.tick(3);
  assert.equal(net.get("a").status().role, "follower", "the old leader follows once it hears the new term");
});

test("a heartbeat's commit above the follower's last index never moves its commit past its log (etcd-io/raft#25, #138)", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.get("a").propose(text("x"));
  net.stabilize();
  const b = net.get("b");
  const last = b.lastLogId().index;
  const term = net.get("a").status().term;
  // The leader believes b matched far more than b holds (b lost a tail of its log).
  net.deliver(newMessage({ type: "heartbeat", from: "a", to: "b", term, commit: last + 20 }));
  net.stabilize();
  assert.ok(
    b.status().commit <= b.lastLogId().index,
    `commit ${b.status().commit} past last ${b.lastLogId().index}`,
  );
  assert.equal(b.status().commit, last);
  // And the cluster goes on.
  net.get("a").propose(text("y"));
  net.stabilize();
  assert.deepEqual(net.appliedText("b"), ["x", "y"]);
});

test("an append whose prevLogIndex is compacted away never truncates committed entries (openraft#511)", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  for (let i = 0; i < 8; i++) a.propose(text(`v${i}`));
  net.stabilize();
  const node = net.nodes.get("b");
  assert.ok(node !== undefined);
  const b = node.raft;
  const commit = b.status().commit;
  // b compacts its log up to commit - 2 (as the driver does after a snapshot).
  const snapAt = commit - 2;
  node.storage.compact(snapAt, text("state"));
  assert.equal(node.storage.firstIndex(), snapAt + 1);
  const term = a.status().term;
  const before = node.storage.entries(snapAt + 1, b.lastLogId().index + 1).map((e) => `${e.index}/${e.term}`);
  // A late (or forged) append at a prevLogIndex below the snapshot, whose entries conflict in
  // term with what b committed.
  const prev = snapAt - 3;
  const entries = Array.from({ length: 6 }, (_, k) => ({
    index: prev + 1 + k,
    term: term + 1,
    type: "normal" as const,
    data: text(`forged${k}`),
  }));
  const seen = net.delivered.length;
  net.deliver(
    newMessage({ type: "app", from: "a", to: "b", term, index: prev, logTerm: term, entries, commit }),
  );
  net.stabilize();
  const after = node.storage.entries(snapAt + 1, b.lastLogId().index + 1).map((e) => `${e.index}/${e.term}`);
  assert.deepEqual(after, before, "committed entries were replaced");
  assert.equal(b.status().commit, commit);
  const answer = net.delivered.slice(seen).find((m) => m.from === "b" && m.type === "appResp");
  assert.ok(answer !== undefined && !answer.reject && answer.index === commit, JSON.stringify(answer));
  assert.deepEqual(net.appliedText("b"), ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"]);
});
