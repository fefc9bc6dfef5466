// Incarnations in the Raft configuration (issue 9): a member's data directory is part of the
// configuration, every message carries its sender's, and a message from another data directory
// than the configuration names neither votes nor counts toward a quorum (acks, votes, ReadIndex
// confirmations). The leader replaces a member that answers under a new incarnation: learner
// under it, caught up, promoted back, with no other step.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  applyConfChange,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
  incarnationIn,
  type Message,
  newMessage,
} from "../../config/raft/core/index.js";
import { IDENTITY_FILE, loadIdentity, raftIncarnation } from "../../config/raft/driver/identity.js";
import { decodeSnapshot, encodeSnapshot } from "../../config/raft/storage/snapshot-files.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

/** a leads a, b, c (founders); c then loses its disk and comes back as "c1". */
function replacedC(): SyncNet {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.get("a").propose(text("before"));
  net.stabilize();
  net.loseDisk("c", "c1");
  return net;
}

test("a voter that lost its disk is replaced by the leader alone: learner under the new incarnation, caught up, promoted", () => {
  const net = replacedC();
  const a = net.get("a");
  // The empty node answers the leader's heartbeats under "c1": the leader demotes c and names c1.
  net.tick(1, ["a"]);
  assert.deepEqual(a.status().conf.learners, ["c"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  assert.deepEqual(a.status().conf.rejoin, ["c"]);
  // It catches up, and the leader promotes it back on a later heartbeat round.
  net.tick(3, ["a"]);
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"]);
  assert.equal(a.status().conf.rejoin, undefined);
  const c = net.get("c");
  assert.deepEqual(net.appliedText("c"), ["before"]);
  assert.equal(c.status().admitted, true, "the new data directory is not admitted after its promotion");
  // It votes again: with a cut off, b and c elect a leader.
  net.isolate("a");
  net.tick(40, ["b", "c"]);
  const l = net.leader();
  assert.ok(l === "b" || l === "c", `no leader among b and c (got ${l})`);
});

test("before it is replaced, a new incarnation's acks and votes do not count, and it votes for nobody", () => {
  const net = replacedC();
  const a = net.get("a");
  // No conf change may go yet (none is possible while the leader hears nothing): keep a's view.
  net.filter = (m) => !(m.from === "c" && m.to === "a");
  const r = a.propose(text("x"));
  net.cut("a", "b");
  net.stabilize();
  // A forged ack from the new directory for the new entry: it must not commit it.
  a.step(ack("c", "c1", r.index, a.status().term));
  assert.ok(a.status().commit < r.index, "an ack of another incarnation committed an entry");
  // The new directory grants no vote to a candidate that names its old incarnation.
  net.recover();
  const c = net.get("c");
  // (force: past the leader lease; no context: the request names c's founder directory "").
  c.step(
    newMessage({
      type: "vote",
      from: "b",
      to: "c",
      term: a.status().term + 5,
      index: 99,
      logTerm: 99,
      force: true,
    }),
  );
  // (Its empty configuration names b no voter, so the forced vote may also be ignored whole:
  // the lease holds against non-voters, core/refusals.ts. Either way no vote is granted.)
  const answer = drain(net, "c").find((m) => m.type === "voteResp");
  assert.ok(answer === undefined || answer.reject, "an unadmitted data directory granted a vote");
  assert.equal(c.status().term, a.status().term, "the refused vote request moved the new directory's term");
});

test("a late ack of the dead process does not count once its member is replaced (gap a)", () => {
  const net = replacedC();
  const a = net.get("a");
  net.tick(4, ["a"]); // replaced and promoted back under c1
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"]);
  net.cut("a", "b");
  net.cut("a", "c");
  const r = a.propose(text("y"));
  net.stabilize();
  const term = a.status().term;
  // The previous process (founder, incarnation "") acked far ahead before it died.
  a.step(ack("c", "", r.index + 50, term));
  assert.ok(a.status().commit < r.index, "a dead process's ack committed an entry");
  const pr = a.status().progress.get("c");
  assert.ok(pr !== undefined && pr.match < r.index, `progress pinned by a stale ack: ${JSON.stringify(pr)}`);
  // The live directory's ack does count.
  a.step(ack("c", "c1", r.index, term));
  assert.ok(a.status().commit >= r.index, "the current incarnation's ack was not counted");
});

test("a ReadIndex confirmation and a vote from another incarnation are not counted", () => {
  const net = replacedC();
  const a = net.get("a");
  net.tick(4, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  net.cut("a", "b");
  net.cut("a", "c");
  const ctx = text("read-1");
  a.readIndex(ctx);
  const term = a.status().term;
  a.step(newMessage({ type: "heartbeatResp", from: "c", to: "a", term, context: ctx, incarnation: "" }));
  net.stabilize();
  assert.equal(net.nodes.get("a")?.readStates.length, 0, "a stale confirmation completed a read");
  a.step(newMessage({ type: "heartbeatResp", from: "c", to: "a", term, context: ctx, incarnation: "c1" }));
  net.stabilize();
  assert.equal(
    net.nodes.get("a")?.readStates.length,
    1,
    "the current incarnation's confirmation did not count",
  );
  // Votes: b campaigns; a vote from c's old directory is ignored, c1's counts.
  const b = net.get("b");
  net.isolate("b");
  b.campaign();
  net.stabilize();
  const t = b.status().term;
  if (b.status().role === "preCandidate") {
    b.step(newMessage({ type: "preVoteResp", from: "c", to: "b", term: t + 1, incarnation: "" }));
    assert.equal(b.status().role, "preCandidate", "a pre-vote of another incarnation counted");
    b.step(newMessage({ type: "preVoteResp", from: "c", to: "b", term: t + 1, incarnation: "c1" }));
    assert.equal(b.status().role, "candidate");
  }
  const t2 = b.status().term;
  b.step(newMessage({ type: "voteResp", from: "c", to: "b", term: t2, incarnation: "" }));
  assert.equal(b.status().role, "candidate", "a vote of another incarnation counted");
  b.step(newMessage({ type: "voteResp", from: "c", to: "b", term: t2, incarnation: "c1" }));
  assert.equal(b.status().role, "leader");
});

test("a replaced voter promoted by someone else than the leader's core is admitted too (gap b)", () => {
  const net = replacedC();
  const a = net.get("a");
  // Only the replacement goes through; the core's own promotion is beaten by an explicit one.
  net.tick(1, ["a"]);
  assert.deepEqual(a.status().conf.learners, ["c"]);
  net.stabilize();
  a.proposeConfChange({ type: "addVoter", node: "c" });
  net.stabilize();
  assert.equal(net.get("c").status().admitted, true);
  assert.equal(incarnationIn(net.get("c").status().conf, "c"), "c1");
});

test("a promoted voter votes as soon as it appended its promotion, before it learns the commit (gap c)", () => {
  // Voters a, b; learner d. a promotes d; only d receives it (d's ack commits it: 2 of 3); a dies.
  const conf: ConfState = { voters: ["a", "b"], learners: ["d"], incarnations: { d: "d0" } };
  const net = new SyncNet(["a", "b"], conf);
  net.add("d", conf, "d0");
  net.elect("a");
  net.get("a").propose(text("x"));
  net.stabilize();
  net.cut("a", "b");
  // d receives the append carrying its promotion, and nothing after it from a.
  net.filter = (m) => !(m.from === "a" && m.to === "d") || m.entries.some((e) => e.type === "conf");
  const r = net.get("a").proposeConfChange({ type: "addVoter", node: "d" });
  net.stabilize();
  assert.ok(net.get("a").status().commit >= r.index, "the promotion did not commit with d's ack");
  assert.ok(net.get("d").status().commit < r.index, "d learned the commit (the scenario needs it not to)");
  net.isolate("a");
  net.filter = null;
  net.tick(60, ["b", "d"]);
  const l = net.leader();
  assert.ok(l === "d", `d (the only voter holding the committed promotion) must lead; leader is ${l}`);
});

test("an intact data directory whose log lost its own admission votes when the candidate names it (driver sim seed 346)", () => {
  // d's log holds only a configuration without d (a crash inside the snapshot install that
  // would have carried its promotion): it cannot campaign, but its disk lost nothing it
  // promised, so it answers a candidate whose configuration names d's own incarnation.
  const net = new SyncNet([], { voters: [], learners: [] });
  const node = net.add("d", { voters: ["a", "b"], learners: [] }, "d0").raft;
  const ask = (term: number, names: string) =>
    node.step(
      newMessage({
        type: "vote",
        from: "a",
        to: "d",
        term,
        index: 9,
        logTerm: 9,
        force: true,
        context: text(names),
      }),
    );
  ask(5, "");
  assert.equal(
    drain(net, "d").find((m) => m.type === "voteResp")?.reject,
    true,
    "voted for a request naming another directory",
  );
  ask(6, "d0");
  assert.equal(
    drain(net, "d").find((m) => m.type === "voteResp")?.reject,
    false,
    "refused a request naming its own directory",
  );
  assert.equal(node.status().admitted, false);
});

test("conf changes: a replacement names the incarnation, demotes a voter to rejoin; promotion keeps it", () => {
  let conf = applyConfChange(ABC, { type: "addLearner", node: "c", incarnation: "c1", rejoin: true });
  assert.deepEqual(conf, { voters: ["a", "b"], learners: ["c"], incarnations: { c: "c1" }, rejoin: ["c"] });
  assert.match(
    confChangeProblem(conf, { type: "addLearner", node: "c", incarnation: "c1" }),
    /already a learner/,
  );
  assert.match(
    confChangeProblem(conf, { type: "addVoter", node: "c", incarnation: "c2" }),
    /incarnation "c1"/,
  );
  conf = applyConfChange(conf, { type: "addVoter", node: "c" });
  assert.deepEqual(conf, { voters: ["a", "b", "c"], learners: [], incarnations: { c: "c1" } });
  conf = applyConfChange(conf, { type: "removeNode", node: "c" });
  assert.deepEqual(conf, { voters: ["a", "b"], learners: [] });
  // Encoded: a change without incarnation stays the previous version's bytes (v1).
  assert.equal(encodeConfChange({ type: "addVoter", node: "c" })[0], 1);
  const v2 = { type: "addLearner", node: "c", incarnation: "c1", rejoin: true } as const;
  assert.deepEqual(decodeConfChange(encodeConfChange(v2)), v2);
});

function ack(from: string, incarnation: string, index: number, term: number): Message {
  return newMessage({ type: "appResp", from, to: "a", term, index, incarnation });
}

/** The messages node `id`'s next Ready would send (the Ready is handled as SyncNet does). */
function drain(net: SyncNet, id: string): readonly Message[] {
  const n = net.nodes.get(id);
  if (!n?.raft.hasReady()) return [];
  const rd = n.raft.ready();
  if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
  n.storage.append(rd.entries);
  if (rd.hardState) n.storage.setHardState(rd.hardState);
  n.raft.advance(rd);
  return rd.messages;
}

test("identity.json: a founder speaks as \"\"; the previous version's admitted file is a founder's; an empty log never is", () => {
  const dir = mkdtempSync(join(tmpdir(), "inc-identity-"));
  try {
    const fresh = loadIdentity(dir, false, false);
    assert.equal(fresh.founder, false);
    assert.match(raftIncarnation(fresh), /^[0-9a-f]{16}$/);
    writeFileSync(join(dir, IDENTITY_FILE), JSON.stringify({ incarnation: "abc", admitted: true }));
    const legacy = loadIdentity(dir, true, false);
    assert.equal(
      raftIncarnation(legacy),
      "",
      "an admitted directory of the previous version is not a founder's",
    );
    // The same file over an empty log: the log was lost, and the incarnation the configuration
    // names voted with it; the directory comes back as a new one (rewritten, not admitted).
    const redrawn = loadIdentity(dir, false, false);
    assert.match(raftIncarnation(redrawn), /^[0-9a-f]{16}$/);
    assert.notEqual(redrawn.incarnation, "abc");
    assert.equal(loadIdentity(dir, false, false).incarnation, redrawn.incarnation, "kept once redrawn");
    writeFileSync(join(dir, IDENTITY_FILE), JSON.stringify({ incarnation: "abc", admitted: false }));
    assert.equal(raftIncarnation(loadIdentity(dir, true, false)), "abc");
    // Never admitted, no cluster: a start that crashed before its join or bootstrap keeps it.
    assert.equal(raftIncarnation(loadIdentity(dir, false, false)), "abc");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("snapshot files keep the configuration's incarnations; a founders-only one keeps the previous bytes", () => {
  const conf: ConfState = { voters: ["a", "b"], learners: ["c"], incarnations: { c: "c1" }, rejoin: ["c"] };
  const snap = { meta: { index: 9, term: 3, conf }, data: text("state") };
  assert.deepEqual(decodeSnapshot(encodeSnapshot(snap), "s").snap, snap);
  const old = { meta: { index: 9, term: 3, conf: ABC }, data: text("state") };
  const bytes = encodeSnapshot(old);
  assert.ok(
    bytes.includes(Buffer.from('{"voters":["a","b","c"],"learners":[]}')),
    "founders-only conf JSON changed",
  );
  assert.deepEqual(decodeSnapshot(bytes, "s").snap, old);
});
