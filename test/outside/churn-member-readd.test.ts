// A member removed and re-added under the same id, under one leader and term. The leader keeps
// the incarnations (data directories) it took from each member, so that a late message of a
// dead process is not taken for a member that lost its disk. Since a removal dropped that record
// (so a long-lived leader would not keep every member that ever left), a re-added id had none:
// a late answer of its previous directory made the leader "replace" the re-added member with
// that dead directory. Now a re-add retires what the id had, as any other change does.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "../../config/raft/core/index.js";
import { incarnationIn } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "../raft/sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("a member re-added under its id keeps its old incarnations retired: a late answer of one changes nothing", () => {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  // c loses its disk and answers as "c1": the leader replaces it.
  net.loseDisk("c", "c1");
  net.tick(4, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  const term = a.status().term;
  const late = [...net.delivered]
    .reverse()
    .find(
      (m: Message) => m.from === "c" && m.to === "a" && m.type === "heartbeatResp" && m.incarnation === "c1",
    );
  assert.ok(late, "c1 answered a heartbeat");

  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  assert.deepEqual(a.status().conf.voters, ["a", "b"]);
  assert.deepEqual(a.leaderBookkeeping().retired, [], "nothing retired is kept under c while it is away");
  // c comes back on a new disk, re-added under its id as a learner naming that directory.
  net.loseDisk("c", "c2");
  a.proposeConfChange({ type: "addLearner", node: "c", incarnation: "c2" });
  net.tick(3, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c2");
  assert.deepEqual(a.status().conf.learners, ["c"]);

  // The dead c1 process's late heartbeat answer reaches the leader (same term).
  net.deliver({ ...late, term: a.status().term });
  net.tick(3, ["a"]);
  assert.equal(net.leader(), "a");
  assert.equal(a.status().term, term, "no leadership change cleared anything");
  assert.equal(
    incarnationIn(a.status().conf, "c"),
    "c2",
    "the leader replaced re-added c with its dead directory c1",
  );
  assert.deepEqual(a.leaderBookkeeping().retired, ["c"]);
  assert.deepEqual(a.leaderBookkeeping().departed, []);
});

test("the leader keeps the retired incarnations of the last 64 members that left, not of all", () => {
  const ids = ["a", "b", "c"];
  const net = new SyncNet(ids, ABC);
  net.elect("a");
  const a = net.get("a");
  for (let i = 0; i < 80; i++) {
    const id = `m${i}`;
    net.add(id, undefined, `${id}-disk`);
    a.proposeConfChange({ type: "addLearner", node: id, incarnation: `${id}-disk` });
    net.stabilize();
    a.proposeConfChange({ type: "removeNode", node: id });
    net.stabilize();
  }
  const departed = a.leaderBookkeeping().departed;
  assert.equal(departed.length, 64);
  assert.equal(departed[0], "m16", "the oldest went first");
  assert.equal(departed[63], "m79");
});
