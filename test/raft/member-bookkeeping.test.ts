// The leader's per-member bookkeeping of a term (the feature level each member advertised, and
// the incarnations it replaced per member) must not outlive the member: before, a member
// removed from the configuration kept both entries on the leader until leadership changed,
// one per member that ever left under a long-lived leader (and a re-added id would have been
// counted at its old level without being heard).
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessages, encodeMessages, incarnationIn, newMessage } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("a member removed from the configuration leaves no heard level or replaced incarnation on the leader", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  // c loses its disk and answers as "c1": the leader replaces it (retiring c's founder directory "").
  net.loseDisk("c", "c1");
  net.tick(1, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  net.tick(3, ["a"]);
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"]);
  const held = a.leaderBookkeeping();
  assert.ok(held.levels.includes("c"), `the leader heard no level from c: ${JSON.stringify(held)}`);
  assert.deepEqual(held.retired, ["c"], "the leader did not record c's replaced incarnation");
  const term = a.status().term;

  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  assert.deepEqual(a.status().conf, { voters: ["a", "b"], learners: [] });
  // Still the same leader and term: nothing was cleared by a leadership change.
  assert.equal(net.leader(), "a");
  assert.equal(a.status().term, term);
  const after = a.leaderBookkeeping();
  assert.deepEqual(after.retired, [], "c's replaced incarnation outlived its membership");
  assert.deepEqual(after.levels, ["b"], "c's heard level outlived its membership");
  assert.equal(a.memberLevel("c"), undefined);
  assert.notEqual(a.memberLevel("b"), undefined, "b's level was dropped with c's");
});

test("a member removed and re-added on a new disk again and again keeps its newest 16 retired directories", () => {
  // Each removal and re-add naming a new directory retires the one it left on. That path kept
  // every one (17 after 17 cycles, and growing); the list a snapshot carries to a follower must
  // stay within the bound the follower's decoder enforces.
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  net.isolate("c"); // its process is gone: only the configuration changes matter here
  for (let i = 1; i <= 20; i++) {
    a.proposeConfChange({ type: "removeNode", node: "c" });
    net.stabilize();
    a.proposeConfChange({ type: "addLearner", node: "c", incarnation: `c${i}` });
    net.stabilize();
    assert.equal(incarnationIn(a.status().conf, "c"), `c${i}`, `re-add ${i} committed`);
  }
  const kept = a.retiredNow().retired.find(([id]) => id === "c")?.[1] ?? [];
  assert.deepEqual(
    kept,
    ["", ...Array.from({ length: 19 }, (_, i) => `c${i + 1}`)].slice(-16),
    "the newest 16",
  );
  assert.deepEqual(net.get("b").retiredNow(), a.retiredNow(), "b applied the same changes");
  // The snapshot a leader sends with it decodes on a follower.
  const index = a.status().applied;
  const snapshot = {
    meta: { index, term: 1, conf: a.status().conf, retired: a.retiredAt(index) },
    data: text("s"),
  };
  const [sent] = decodeMessages(
    encodeMessages([newMessage({ type: "snap", from: "a", to: "b", term: 1, snapshot })]),
  );
  assert.deepEqual(sent.snapshot?.meta.retired, a.retiredAt(index));
});

test("a snapshot an older build wrote with more than 16 directories for a member goes out with the newest 16", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  net.isolate("b");
  a.propose(text("x"));
  net.stabilize();
  // The re-add path kept every directory before it was bounded: 20 for c in this file.
  const old = Array.from({ length: 20 }, (_, i) => `c${i + 1}`);
  const index = a.status().applied;
  net.nodes.get("a")!.storage.compact(index, text("s"), { retired: [["c", old]], departed: [], trusted: [] });
  net.recover();
  net.tick(3, ["a"]);
  const snap = net.delivered.find((m) => m.type === "snap" && m.to === "b");
  assert.ok(snap !== undefined, "b caught up by a snapshot");
  const [sent] = decodeMessages(encodeMessages([snap]));
  assert.deepEqual(sent.snapshot?.meta.retired?.retired, [["c", old.slice(-16)]], "the newest 16 went out");
  assert.deepEqual(net.get("b").retiredNow().retired, [["c", old.slice(-16)]], "and b installed them");
});
