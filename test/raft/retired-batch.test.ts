// A follower that receives several configuration changes in one append retires what each of them
// took, in order, as a replay of its log at a start does. b, cut off, missed two replacements of
// c (its disk lost twice: "c1", then "c2", then "c3") and got both in one append. It retired
// only c1, what the batch as a whole replaced, and not c2, which the batch passed through; led
// by b, one late answer of c2's dead process made b switch c back to c2 (the live c3 demoted).
//
// The same catch-up through the leader's snapshot (a compacted past b's log): b's log is replaced,
// so it learns what c's history retired from the list the snapshot carries (from level 8; before,
// the message carried none and b retired only c1, what changed from its committed configuration
// to the snapshot's, losing c2 the same way). Below level 8 the leader still sends none (a level-7
// build refuses the frame flag carrying it), and b knows only what it retired itself.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeMessages,
  encodeMessages,
  incarnationIn,
  LEVEL_SNAPSHOT_RETIRED,
  newMessage,
} from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const FIVE: ConfState = { voters: ["a", "b", "c", "d", "e"], learners: [] };

const CASES = [
  { name: "a batch of configuration changes retires every directory it passed through", snapshot: false },
  {
    name: "a snapshot catching a follower up retires every directory its history passed through",
    snapshot: true,
  },
  {
    name: "below level 8 the snapshot carries no retired list: the follower keeps only its own",
    snapshot: true,
    clusterLevel: LEVEL_SNAPSHOT_RETIRED - 1,
  },
] as const;

for (const c of CASES)
  test(c.name, () => {
    const { snapshot } = c;
    const below = "clusterLevel" in c;
    const net = new SyncNet(["a", "b", "c", "d", "e"], FIVE, below ? { clusterLevel: c.clusterLevel } : {});
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
    if (snapshot) {
      const snap = net.delivered.find((m) => m.type === "snap" && m.to === "b");
      assert.ok(snap?.snapshot !== undefined, "a sent b a snapshot");
      // What goes on the wire: the codec carries the list (and refuses a list no history gives).
      const [sent] = decodeMessages(encodeMessages([snap]));
      const expected = below ? undefined : a.retiredAt(snap.snapshot.meta.index);
      assert.deepEqual(sent.snapshot?.meta.retired, expected, "the list the snapshot carried");
    }
    if (below) {
      assert.deepEqual(
        b.retiredNow().retired,
        [["c", ["", "c1"]]],
        "b retired only what it saw itself (c2 lost)",
      );
      return;
    }
    assert.deepEqual(
      b.retiredNow().retired,
      [["c", ["", "c1", "c2"]]],
      "b retired the founder's directory, c1 and c2",
    );

    // b leads; a late answer of c2's dead process comes in.
    a.transferLeadership("b");
    net.stabilize();
    assert.equal(net.leader(), "b", "b leads");
    const term = b.status().term;
    b.step(newMessage({ type: "heartbeatResp", from: "c", to: "b", term, incarnation: "c2" }));
    net.stabilize();
    assert.equal(incarnationIn(b.status().conf, "c"), "c3", "b switched c back to c2's dead directory");
  });
