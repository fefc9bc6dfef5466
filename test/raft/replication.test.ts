// Focused tests for log replication: the Figure 8 commit rule, the follower commit cap,
// never truncating committed entries, fast back-up, and MemoryStorage semantics.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CompactedError,
  MemoryStorage,
  type Message,
  newMessage,
  RaftNode,
  SnapshotOutOfDateError,
  UnavailableError,
} from "../../config/raft/core/index.js";
import type { Entry } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC = { voters: ["a", "b", "c"], learners: [] };
const ent = (index: number, term: number, data = ""): Entry => ({
  index,
  term,
  type: "normal",
  data: text(data),
});

function outbox(raft: RaftNode, storage: MemoryStorage): Message[] {
  const out: Message[] = [];
  while (raft.hasReady()) {
    const rd = raft.ready();
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    out.push(...rd.messages);
    raft.advance(rd);
  }
  return out;
}

test("Figure 8: a leader does not commit an old-term entry by counting replicas", () => {
  const net = new SyncNet(["a", "b", "c"], ABC, { preVote: false, checkQuorum: false, maxMsgEntries: 1 });
  net.elect("a"); // term 2, no-op at index 2 committed everywhere
  // a appends index 3 in term 2 but nobody receives it.
  net.filter = (m) => !(m.type === "app" && m.from === "a");
  net.get("a").propose(text("old"));
  net.stabilize();
  // b wins term 3 with c's vote and appends its no-op at index 3 (term 3), which nobody receives.
  net.filter = (m) => !(m.type === "app" && m.from === "b");
  net.elect("b");
  assert.equal(net.leader(), "b");
  // a wins term 4 with c's vote; c receives a's index 3 (term 2) but not index 4 (term 4);
  // b receives no appends at all.
  const cHasOld = () => net.get("c").termAt(3) === 2;
  net.filter = (m) =>
    !(m.type === "app" && (m.from === "b" || m.to === "b")) &&
    !(m.type === "app" && m.to === "c" && cHasOld() && m.entries.some((e) => e.index === 4));
  net.elect("a");
  const a = net.get("a");
  assert.equal(a.status().role, "leader");
  assert.equal(a.status().term, 4);
  assert.equal(net.get("c").termAt(3), 2, "c should now hold the old-term entry");
  assert.equal(a.status().progress.get("c")?.match, 3);
  // Index 3 (term 2) is on a majority {a, c}, yet it must not be committed by counting.
  assert.equal(a.status().commit, 2, "committed an entry of an earlier term by counting replicas");
  net.recover();
  net.tick(1);
  assert.equal(a.status().commit, 4, "the current-term entry should commit both");
});

test("a follower caps its commit at the last entry the append verified (atomix/copycat#265)", () => {
  const storage = new MemoryStorage({ voters: ["l", "f"], learners: [] });
  storage.append([ent(2, 2, "x"), ent(3, 2, "stale")]);
  storage.setHardState({ term: 2, vote: "", commit: 1 });
  const f = new RaftNode({ id: "f", storage, seed: 1 });
  // The term-3 leader's log is [2:t2, 3:t3]; it sends only index 2 and says commit = 3.
  f.step(
    newMessage({
      type: "app",
      from: "l",
      to: "f",
      term: 3,
      index: 1,
      logTerm: 1,
      entries: [ent(2, 2, "x")],
      commit: 3,
    }),
  );
  assert.equal(f.status().commit, 2, "committed its own unverified (stale) index 3");
  const out = outbox(f, storage);
  assert.equal(out[0].type, "appResp");
  assert.equal(out[0].index, 2);
});

test("a follower never truncates at or below its commit index, even when told to", () => {
  const storage = new MemoryStorage({ voters: ["l", "f"], learners: [] });
  storage.append([ent(2, 2, "x"), ent(3, 2, "y")]);
  storage.setHardState({ term: 2, vote: "", commit: 3 });
  const f = new RaftNode({ id: "f", storage, seed: 1 });
  f.step(
    newMessage({
      type: "app",
      from: "l",
      to: "f",
      term: 3,
      index: 1,
      logTerm: 1,
      entries: [ent(2, 3, "z")],
      commit: 3,
    }),
  );
  assert.equal(f.termAt(2), 2, "a committed entry was overwritten");
  assert.equal(f.status().lastIndex, 3);
  const out = outbox(f, storage);
  assert.equal(out[0].index, 3, "the answer should report the commit index");
});

test("fast back-up: 50 divergent entries are resolved in a few rejections", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.isolate("a");
  for (let i = 0; i < 50; i++) net.get("a").propose(text(`a${i}`));
  net.stabilize();
  net.tick(25, ["b", "c"]);
  const leader = net.leader() === "a" ? null : net.leader();
  assert.ok(leader === "b" || leader === "c", `no new leader (${leader})`);
  for (let i = 0; i < 50; i++) net.get(leader!).propose(text(`b${i}`));
  net.stabilize();
  net.recover();
  const before = net.delivered.length;
  net.tick(3);
  const rejections = net.delivered
    .slice(before)
    .filter((m) => m.type === "appResp" && m.reject && m.from === "a");
  assert.ok(rejections.length <= 3, `${rejections.length} rejections to back up 50 entries`);
  assert.deepEqual(net.appliedText("a").slice(-50), net.appliedText(leader!).slice(-50));
  assert.equal(net.get("a").lastLogId().index, net.get(leader!).lastLogId().index);
});

test("MemoryStorage: bounds, byte limits, truncating append, compaction and snapshots", () => {
  const s = new MemoryStorage(ABC);
  assert.equal(s.firstIndex(), 2, "bootstrap snapshot covers index 1");
  assert.equal(s.term(1), 1);
  s.append([ent(2, 2, "aaaa"), ent(3, 2, "bbbb"), ent(4, 2, "cccc")]);
  assert.equal(s.lastIndex(), 4);
  assert.deepEqual(
    s.entries(2, 5, 5).map((e) => e.index),
    [2],
    "maxBytes should stop after the first entry",
  );
  assert.equal(s.entries(2, 5, 0).length, 1, "at least one entry is always returned");
  assert.throws(() => s.entries(1, 3), CompactedError);
  assert.throws(() => s.entries(2, 6), UnavailableError);
  assert.throws(() => s.term(5), UnavailableError);
  s.append([ent(3, 3, "new")]);
  assert.equal(s.lastIndex(), 3, "append must truncate the conflicting suffix");
  assert.equal(s.term(3), 3);
  assert.throws(() => s.append([ent(9, 3)]), /gap/);
  s.compact(2, text("state@2"));
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.term(2), 2);
  assert.deepEqual(s.snapshot().meta.conf, { voters: ["a", "b", "c"], learners: [] });
  s.compact(1, text("older")); // never goes back
  assert.equal(s.snapshot().meta.index, 2);
  assert.throws(
    () => s.applySnapshot({ meta: { index: 1, term: 1, conf: ABC }, data: text("") }),
    SnapshotOutOfDateError,
  );
  s.applySnapshot({ meta: { index: 10, term: 4, conf: ABC }, data: text("s10") });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
});

test("an append whose entries do not follow prevLogIndex is ignored whole", () => {
  const storage = new MemoryStorage({ voters: ["l", "f"], learners: [] });
  const f = new RaftNode({ id: "f", storage, seed: 1 });
  f.step(
    newMessage({
      type: "app",
      from: "l",
      to: "f",
      term: 2,
      index: 1,
      logTerm: 1,
      entries: [ent(5, 2, "x")],
      commit: 5,
    }),
  );
  assert.equal(f.status().lastIndex, 1);
  assert.equal(f.status().commit, 1);
  assert.ok(
    outbox(f, storage).every((m) => m.type !== "appResp"),
    "answered a malformed append",
  );
});

test("replication batches by entries and bytes and bounds in-flight appends per follower", () => {
  const net = new SyncNet(["a", "b", "c"], ABC, { maxMsgEntries: 4, maxMsgBytes: 150, maxInflight: 3 });
  net.elect("a");
  const a = net.get("a");
  assert.equal(a.status().progress.get("b")?.state, "replicate");
  // b stops answering: at most maxInflight appends may be outstanding to it.
  net.filter = (m) => !(m.from === "b" && m.type === "appResp");
  const before = net.delivered.length;
  for (let i = 0; i < 20; i++) {
    a.propose(text("x".repeat(64)));
    net.stabilize();
  }
  const toB = net.delivered
    .slice(before)
    .filter((m) => m.type === "app" && m.to === "b" && m.entries.length > 0);
  assert.equal(toB.length, 3, `${toB.length} appends in flight to a silent follower (window 3)`);
  // c answers: every append respects both limits (150 bytes -> at most 2 entries of 64 bytes).
  const toC = net.delivered.slice(before).filter((m) => m.type === "app" && m.to === "c");
  assert.ok(toC.length > 0);
  for (const m of toC) assert.ok(m.entries.length <= 2, `an append carried ${m.entries.length} entries`);
  net.recover();
  net.tick(3);
  assert.equal(net.get("b").lastLogId().index, a.lastLogId().index, "b did not catch up once it answered");
});
