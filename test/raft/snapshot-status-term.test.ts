// A snapshot the driver refuses that comes at a later term than the follower's is answered at
// once (snapStatus at the leader's term), as any snap is stepped: before, refuseSnapshot answered
// only at the follower's own term and said nothing else, so the leader heard no answer until it
// resent the snapshot a backoff step later (2 election timeouts at first), once a heartbeat had
// moved the follower to its term. Deterministic (SyncNet, the pure core).
import assert from "node:assert/strict";
import { test } from "node:test";
import { LEVEL_SNAP_STATUS, type Message, newMessage } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("a refused snapshot at a later term than the follower's is answered at once, at that term", () => {
  const net = new SyncNet(["a", "b", "c"], ABC, { electionTick: 10, clusterLevel: LEVEL_SNAP_STATUS });
  net.elect("a");
  const oldTerm = net.get("c").status().term;
  // c hears nothing while b takes over at a later term, writes past c and compacts.
  net.isolate("c");
  net.get("a").transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b");
  for (let i = 0; i < 5; i++) net.get("b").propose(text(`e${i}`));
  net.stabilize();
  const b = net.nodes.get("b")!;
  b.storage.compact(b.storage.lastIndex(), text("state"));
  const leaderTerm = net.get("b").status().term;
  assert.ok(leaderTerm > oldTerm, `b leads at term ${leaderTerm}, c is at ${oldTerm}`);
  // The snap b's sendSnapshot writes (the heartbeats that would have moved c to b's term lost),
  // refused by c's driver.
  const snapshot = b.storage.snapshot();
  const snap = newMessage({ type: "snap", from: "b", to: "c", term: leaderTerm, snapshot });
  const answered = net.get("c").refuseSnapshot(snap, "bad_snapshot");
  const sent: Message[] = [];
  net.recover();
  net.filter = (m) => {
    if (m.from === "c") sent.push(m);
    return true;
  };
  net.stabilize();
  const answer = sent.find((m) => m.type === "snapStatus");
  assert.ok(answered, "refuseSnapshot queued an answer");
  assert.ok(
    answer !== undefined,
    `c answered the refused snapshot: sent ${sent.map((m) => m.type).join(", ")}`,
  );
  assert.equal(answer.to, "b");
  assert.equal(answer.term, leaderTerm, "at the leader's term");
  assert.equal(answer.index, snapshot.meta.index);
  assert.ok(answer.reject);
  assert.equal(Buffer.from(answer.context).toString(), "bad_snapshot");
  const c = net.get("c").status();
  assert.equal(c.term, leaderTerm, "c took the leader's term from it");
  assert.equal(c.lead, "b", "and its sender as leader");
  assert.ok(c.commit < snapshot.meta.index, "and installed nothing");
});
