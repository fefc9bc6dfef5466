// A directory retired stays retired across restarts. c lost its disk ("c1"), was removed and
// re-added naming no directory, came back on a new disk "c2" which leader a learned and promoted
// (retiring c1: readd-stale-incarnation.test.ts). Then every node restarts (a rolling upgrade)
// and b leads. Before, the retired directories lived in memory only and a restart started with
// none: the first heartbeat answer of c1's process (a late one, or the old process cut off on a
// partitioned machine that comes back) made b switch c back to c1 (the live c2 demoted to a
// learner and its answers dropped as retired), and a message of c1 at a later term deposed b.
// Now a start replays the directories its log's configuration changes retired, over those its
// snapshot holds (kept when the log is compacted), so b refuses both as before the restart.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn, type Message, newMessage } from "../../config/raft/core/index.js";
import { readdedOnNewDisk } from "./sim/readded-on-new-disk.js";
import { type SyncNet, text } from "./sim/sync-net.js";

/** readdedOnNewDisk, then every node restarts (its log compacted first if `compact`) and b leads. */
function retiredThenRestart(compact: boolean): SyncNet {
  const net = readdedOnNewDisk();
  for (const id of ["a", "b", "c"]) {
    const n = net.nodes.get(id)!;
    if (compact) {
      const index = n.raft.status().applied;
      n.storage.compact(index, text(`state@${index}`), n.raft.retiredAt(index));
      assert.ok(n.storage.firstIndex() > index, `${id} compacted its log`);
    }
    net.restart(id);
  }
  net.stabilize();
  net.elect("b");
  net.stabilize();
  assert.equal(net.leader(), "b", "b leads");
  assert.equal(incarnationIn(net.get("b").status().conf, "c"), "c2", "c is c2 after the restart");
  return net;
}

const fromOld = (type: Message["type"], term: number): Message =>
  newMessage({ type, from: "c", to: "b", term, incarnation: "c1" });

for (const compact of [false, true])
  for (const [what, later] of [
    ["a heartbeat answer", 0],
    ["a message at a later term", 3],
  ] as const) {
    test(`after a restart${compact ? " from a snapshot" : ""}: ${what} of a retired directory changes nothing`, () => {
      const net = retiredThenRestart(compact);
      const b = net.get("b");
      const before = b.status();
      b.step(fromOld("heartbeatResp", before.term + later));
      net.stabilize();
      net.tick(20);
      const after = b.status();
      assert.equal(net.leader(), "b", `b no longer leads (term ${before.term} -> ${after.term})`);
      assert.equal(after.term, before.term, "the retired directory's message moved the term");
      assert.equal(incarnationIn(after.conf, "c"), "c2", "b switched c back to the retired directory c1");
      assert.deepEqual(after.conf.voters, ["a", "b", "c"], "c2 demoted");
      // c2 still counts: with a cut off, b commits with c.
      net.cut("b", "a");
      const r = b.propose(text("still"));
      net.stabilize();
      assert.ok(b.status().commit >= r.index, "c2's acks no longer count");
    });
  }
