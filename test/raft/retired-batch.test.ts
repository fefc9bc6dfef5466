// A follower that receives several configuration changes in one append retires what each of them
// took, in order, as a replay of its log at a start does. b, cut off, missed two replacements of
// c (its disk lost twice: "c1", then "c2", then "c3") and got both in one append. It retired
// only c1, what the batch as a whole replaced, and not c2, which the batch passed through; led
// by b, one late answer of c2's dead process made b switch c back to c2 (the live c3 demoted).
//
// Not fixed: the same catch-up through the leader's snapshot (a compacted past b's log). The
// snapshot message does not carry the leader's retired list (codec.ts), so b retires only what
// changed from its committed configuration to the snapshot's, c1, and c2 is lost the same way.
// Carrying the list needs a wire change gated by the cluster level; the todo test shows it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn, newMessage } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const FIVE: ConfState = { voters: ["a", "b", "c", "d", "e"], learners: [] };

for (const snapshot of [false, true])
  test(
    snapshot
      ? "a snapshot catching a follower up retires every directory its history passed through"
      : "a batch of configuration changes retires every directory it passed through",
    snapshot ? { todo: "the snapshot message carries no retired list" } : {},
    () => {
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
      const first = net.nodes.get("b")!.storage.firstIndex();
      if (snapshot) {
        const index = a.status().applied;
        net.nodes.get("a")!.storage.compact(index, text(`state@${index}`), a.retiredAt(index));
      }
      net.recover();
      net.tick(3, ["a"]);
      assert.equal(b.lastIndex(), a.lastIndex(), "b caught up");
      assert.equal(net.nodes.get("b")!.storage.firstIndex() > first, snapshot, "b caught up by a snapshot");
      assert.equal(incarnationIn(b.status().conf, "c"), "c3");

      // b leads; a late answer of c2's dead process comes in.
      a.transferLeadership("b");
      net.stabilize();
      assert.equal(net.leader(), "b", "b leads");
      const term = b.status().term;
      b.step(newMessage({ type: "heartbeatResp", from: "c", to: "b", term, incarnation: "c2" }));
      net.stabilize();
      assert.equal(incarnationIn(b.status().conf, "c"), "c3", "b switched c back to c2's dead directory");
    },
  );
