// Focused tests for ReadIndex (thesis §6.4): linearizable reads without a log write.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ProposalDropped } from "../../config/raft/core/index.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC = { voters: ["a", "b", "c"], learners: [] };
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test("ReadIndex on the leader returns the commit index after a heartbeat quorum", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("w"));
  net.stabilize();
  const commit = a.status().commit;
  a.readIndex(text("r1"));
  net.stabilize();
  const rs = net.nodes.get("a")!.readStates;
  assert.equal(rs.length, 1);
  assert.equal(rs[0].index, commit);
  assert.equal(dec(rs[0].ctx), "r1");
  assert.ok(
    net.delivered.some((m) => m.type === "heartbeatResp" && dec(m.context) === "r1"),
    "no heartbeat round",
  );
});

test("an isolated (deposed) leader never answers a read with stale data (etcd#741)", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.isolate("a");
  net.get("a").readIndex(text("stale?"));
  net.stabilize();
  net.tick(25, ["b", "c"]);
  const leader = net.leader();
  assert.ok(leader === "b" || leader === "c");
  net.get(leader!).propose(text("newer"));
  net.stabilize();
  net.recover();
  net.tick(5);
  assert.deepEqual(net.nodes.get("a")!.readStates, [], "the old leader served a read it could not confirm");
});

test("a follower's read is forwarded to the leader and covers every write committed before it", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  net.get("a").propose(text("w1"));
  net.stabilize();
  const commit = net.get("a").status().commit;
  net.get("b").readIndex(text("fr"));
  net.stabilize();
  const rs = net.nodes.get("b")!.readStates;
  assert.equal(rs.length, 1);
  assert.ok(rs[0].index >= commit, `read index ${rs[0].index} is older than the commit ${commit}`);
  assert.equal(dec(rs[0].ctx), "fr");
});

test("a new leader holds reads until it has committed an entry of its own term", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.filter = (m) => m.type !== "app";
  net.elect("a");
  const a = net.get("a");
  assert.equal(a.status().role, "leader");
  a.readIndex(text("early"));
  net.stabilize();
  assert.deepEqual(net.nodes.get("a")!.readStates, [], "answered before committing in its term");
  net.recover();
  net.tick(2);
  const rs = net.nodes.get("a")!.readStates;
  assert.equal(rs.length, 1);
  assert.ok(a.termAt(rs[0].index) === a.status().term, "read index precedes the leader's own no-op");
});

test("reads without a leader are refused", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  assert.throws(() => net.get("b").readIndex(text("x")), ProposalDropped);
});

test("a read whose heartbeat round was lost is confirmed by a later heartbeat (fix 3)", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("w"));
  net.stabilize();
  // Lose every heartbeat (and answer) carrying the read's context, once per peer.
  const lost = new Set<string>();
  net.filter = (m) => {
    if ((m.type === "heartbeat" || m.type === "heartbeatResp") && dec(m.context) === "r-lost") {
      const key = `${m.type}:${m.from}:${m.to}`;
      if (!lost.has(key) && m.type === "heartbeat") {
        lost.add(key);
        return false;
      }
    }
    return true;
  };
  a.readIndex(text("r-lost"));
  net.stabilize();
  assert.deepEqual(net.nodes.get("a")!.readStates, [], "the first round was lost");
  assert.equal(lost.size, 2);
  net.tick(3);
  const rs = net.nodes.get("a")!.readStates;
  assert.equal(rs.length, 1, "a later heartbeat carries the pending read and confirms it");
  assert.equal(dec(rs[0].ctx), "r-lost");
});
