// Forged and malformed cluster messages at the core (review against etcd-io/raft and
// hashicorp/raft): the transport proves only that a sender knows the cluster secret, which a
// removed member still does. A message with a stale term, a future-term vote from a node that
// is not a voter (an unknown id or a removed member, even flagged as a leadership transfer,
// which skips the leader lease), a timeoutNow from anyone but the leader, a replayed snapshot:
// each is refused with a reason, and the cluster's leader, term, log and commit are unchanged.
import assert from "node:assert/strict";
import { test } from "node:test";
import { newMessage, type RefusalReason } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

/** Leader, term, last index and commit of every node, to compare before and after. */
function shape(net: SyncNet): string {
  const out: string[] = [];
  for (const id of [...net.nodes.keys()].sort()) {
    const s = net.get(id).status();
    out.push(
      `${id}:${s.role}/t${s.term}/lead=${s.lead}/last=${net.get(id).lastLogId().index}/commit=${s.commit}`,
    );
  }
  return out.join(" ");
}

/** A 3-voter cluster whose nodes record every refusal; a leads with one committed entry. */
function cluster(): { net: SyncNet; refused: string[] } {
  const refused: string[] = [];
  const net = new SyncNet(["a", "b", "c"], ABC, {
    onRefused: (from: string, reason: RefusalReason) => refused.push(`${from}:${reason}`),
  });
  net.elect("a");
  net.get("a").propose(text("x"));
  net.stabilize();
  return { net, refused };
}

test("a future-term vote from a node that is no voter (unknown id, forced) changes nobody's term", () => {
  const { net, refused } = cluster();
  const before = shape(net);
  const term = net.get("a").status().term;
  for (const to of ["a", "b", "c"]) {
    for (const type of ["vote", "preVote"] as const) {
      net.deliver(
        newMessage({ type, from: "z", to, term: term + 5, index: 100, logTerm: term + 4, force: true }),
      );
    }
  }
  net.stabilize();
  // Old code: every member jumped to term+5 (the forced vote skips the lease) and a stepped down.
  assert.equal(shape(net), before, "a vote from a non-member changed the cluster");
  assert.equal(refused.filter((r) => r === "z:vote_from_non_voter").length, 6, refused.join(","));
  // The refusal was answered, at the refuser's own term and rejected.
  const answers = net.delivered.filter((m) => m.to === "z");
  assert.equal(answers.length, 0, "answers to an unknown node are not delivered (no such node)");
  net.get("a").propose(text("y"));
  net.stabilize();
  assert.deepEqual(net.appliedText("b"), ["x", "y"]);
});

test("a removed member that keeps campaigning (also as a transfer) cannot depose the leader", () => {
  const { net, refused } = cluster();
  const a = net.get("a");
  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  assert.deepEqual(net.get("b").status().conf.voters, ["a", "b"]);
  // c missed nothing it needs to know it is out, but a process that was removed still runs
  // and still holds the secret: its campaign, as forced as a transfer, at a far later term.
  const term = a.status().term;
  for (const to of ["a", "b"]) {
    net.deliver(
      newMessage({ type: "vote", from: "c", to, term: term + 3, index: 50, logTerm: term + 2, force: true }),
    );
  }
  net.stabilize();
  assert.equal(net.leader(), "a");
  assert.equal(a.status().term, term, "the removed member's vote request raised the leader's term");
  assert.equal(net.get("b").status().term, term);
  assert.ok(refused.includes("a:vote_from_non_voter") === false && refused.includes("c:vote_from_non_voter"));
  a.propose(text("after"));
  net.stabilize();
  assert.deepEqual(net.appliedText("b"), ["x", "after"]);
});

test("a timeoutNow from anyone but this term's leader does not make a follower campaign", () => {
  const { net, refused } = cluster();
  const before = shape(net);
  const term = net.get("a").status().term;
  // From the other follower, at the current term, and from an unknown node at a later term.
  net.deliver(newMessage({ type: "timeoutNow", from: "c", to: "b", term }));
  net.deliver(newMessage({ type: "timeoutNow", from: "z", to: "b", term: term + 1 }));
  net.stabilize();
  assert.equal(shape(net), before, "a forged timeoutNow started an election");
  assert.deepEqual(refused, ["c:timeout_now_not_leader", "z:timeout_now_not_leader"]);
  // The leader's own transfer still works.
  net.get("a").transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b");
});

test("stale-term messages are answered with the current term and change nothing", () => {
  const { net } = cluster();
  net.get("a").transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b");
  const before = shape(net);
  const term = net.get("b").status().term;
  const c = net.get("c");
  const last = c.lastLogId();
  // The deposed leader a, at its old term: an append that would overwrite c's last entry, a
  // heartbeat claiming a later commit, and a vote request.
  const stale = term - 1;
  net.deliver(
    newMessage({
      type: "app",
      from: "a",
      to: "c",
      term: stale,
      index: last.index - 1,
      logTerm: stale,
      entries: [{ index: last.index, term: stale, type: "normal", data: text("forged") }],
      commit: last.index + 5,
    }),
  );
  net.deliver(newMessage({ type: "heartbeat", from: "a", to: "c", term: stale, commit: last.index + 5 }));
  net.deliver(newMessage({ type: "vote", from: "a", to: "c", term: stale, index: 999, logTerm: stale }));
  const replies = net.delivered.length;
  net.stabilize();
  assert.equal(shape(net), before);
  assert.equal(c.lastLogId().index, last.index);
  // Told about the newer term (check-quorum), so a cut-off old leader steps down.
  const told = net.delivered.slice(replies).filter((m) => m.from === "c" && m.to === "a");
  assert.ok(told.length > 0 && told.every((m) => m.term === term), JSON.stringify(told.map((m) => m.term)));
});

test("a replayed (older) snapshot changes neither the log nor the commit", () => {
  const { net } = cluster();
  const a = net.get("a");
  for (let i = 0; i < 5; i++) a.propose(text(`v${i}`));
  net.stabilize();
  const c = net.get("c");
  const commitBefore = c.status().commit;
  const lastBefore = c.lastLogId();
  const snapBefore = net.nodes.get("c")?.storage.snapshot().meta.index;
  const term = a.status().term;
  // The snapshot a leader would have sent at index 2: replayed now that c is at commit 7.
  const snapshot = {
    meta: { index: 2, term, conf: ABC },
    data: text("old"),
  };
  net.deliver(newMessage({ type: "snap", from: "a", to: "c", term, snapshot }));
  net.stabilize();
  assert.equal(c.status().commit, commitBefore);
  assert.deepEqual(c.lastLogId(), lastBefore);
  assert.equal(
    net.nodes.get("c")?.storage.snapshot().meta.index,
    snapBefore,
    "the old snapshot was installed",
  );
  assert.deepEqual(net.appliedText("c"), ["x", "v0", "v1", "v2", "v3", "v4"]);
});

test("a removed member that still thinks it leads cannot make the others follow it or apply its entries", () => {
  const { net, refused } = cluster();
  const a = net.get("a");
  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  assert.deepEqual(net.get("b").status().conf.voters, ["a", "b"]);
  const before = shape(net);
  const applied = net.appliedText("b");
  // c's process still runs, holds the secret and leads in its own eyes, at a later term (a
  // forged frame can claim any): appends that match the members' logs, a commit past them.
  const term = a.status().term + 3;
  for (const to of ["a", "b"]) {
    const last = net.get(to).lastLogId();
    net.deliver(
      newMessage({
        type: "app",
        from: "c",
        to,
        term,
        index: last.index,
        logTerm: last.term,
        entries: [{ index: last.index + 1, term, type: "normal", data: text("from-removed") }],
        commit: last.index + 1,
      }),
    );
    net.deliver(newMessage({ type: "heartbeat", from: "c", to, term, commit: last.index + 1 }));
  }
  net.stabilize();
  // Old code: a and b followed c at its term and applied "from-removed".
  assert.equal(shape(net), before, "a removed member's appends changed the cluster");
  assert.deepEqual(net.appliedText("b"), applied);
  assert.equal(refused.filter((r) => r === "c:append_from_non_member").length, 4, refused.join(","));
  a.propose(text("after"));
  net.stabilize();
  assert.deepEqual(net.appliedText("b"), [...applied, "after"]);
});

test("a follower whose configuration lags still follows a leader it does not know, once its own is silent", () => {
  const { net, refused } = cluster();
  const b = net.get("b");
  const term = b.status().term + 1;
  // "d" leads at a later term; b's configuration does not name it yet (its conf change is in
  // entries b has not received). While b hears a, d is refused...
  const append = () => {
    const last = b.lastLogId();
    return newMessage({
      type: "app",
      from: "d",
      to: "b",
      term,
      index: last.index,
      logTerm: last.term,
      commit: 0,
    });
  };
  net.deliver(append());
  assert.equal(b.status().lead, "a");
  assert.deepEqual(refused, ["d:append_from_non_member"]);
  // ...and once a is silent for an election timeout, b follows d as Raft says.
  net.isolate("b");
  for (let i = 0; i < 200 && b.status().role === "follower"; i++) net.tick(1, ["b"]);
  assert.notEqual(b.status().role, "follower", "b noticed its leader is gone");
  net.recover();
  net.isolate("b");
  net.deliver(append());
  assert.equal(b.status().lead, "d");
  assert.equal(b.status().term, term);
  assert.equal(refused.length, 1);
});
