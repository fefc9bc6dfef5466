// A follower that receives several configuration changes in one append retires what each of them
// took, in order, as a replay of its log at a start does. b, cut off, missed two replacements of
// c (its disk lost twice: "c1", then "c2", then "c3") and got both in one append. It retired
// only c1, what the batch as a whole replaced, and not c2, which the batch passed through; led
// by b, one late answer of c2's dead process made b switch c back to c2 (the live c3 demoted).
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn, newMessage } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const FIVE: ConfState = { voters: ["a", "b", "c", "d", "e"], learners: [] };

test("a batch of configuration changes retires every directory it passed through", () => {
  const net = new SyncNet(["a", "b", "c", "d", "e"], FIVE);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  net.loseDisk("c", "c1");
  net.tick(4, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1", "a learned c's directory c1");

  // b is cut off while c loses its disk twice more; a commits with c, d and e.
  const b = net.get("b");
  net.isolate("b");
  for (const inc of ["c2", "c3"]) {
    net.loseDisk("c", inc);
    net.cut("b", "c");
    net.tick(4, ["a"]);
    assert.equal(incarnationIn(a.status().conf, "c"), inc, `a learned c's directory ${inc}`);
    assert.deepEqual(a.status().conf.voters, FIVE.voters, `${inc} promoted back`);
  }
  net.recover();
  net.tick(3, ["a"]);
  assert.equal(b.lastIndex(), a.lastIndex(), "b caught up");
  assert.equal(incarnationIn(b.status().conf, "c"), "c3");

  // b leads; a late answer of c2's dead process comes in.
  a.transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b", "b leads");
  const term = b.status().term;
  b.step(newMessage({ type: "heartbeatResp", from: "c", to: "b", term, incarnation: "c2" }));
  net.stabilize();
  assert.equal(incarnationIn(b.status().conf, "c"), "c3", "b switched c back to c2's dead directory");
});
