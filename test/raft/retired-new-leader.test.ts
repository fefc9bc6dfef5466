// A directory retired under one leader stays retired under the next. c lost its disk ("c1"),
// was removed and re-added naming no directory, came back on a new disk "c2" which leader a
// learned and promoted (retiring c1: readd-stale-incarnation.test.ts). Then leadership moves to
// b. Before, a new leader started with nothing retired (the sets were cleared with the term): the
// first heartbeat answer of c1's process made b switch c back to c1 (the live c2 demoted to a
// learner and its answers dropped as retired for the term), and a message of c1 at a later term
// (its process ran on, cut off) deposed b. Now every node keeps the directories retired by the
// configuration changes it applied, across terms: b refuses both like a did.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn, type Message, newMessage } from "../../config/raft/core/index.js";
import { readdedOnNewDisk } from "./sim/readded-on-new-disk.js";
import { type SyncNet, text } from "./sim/sync-net.js";

/** readdedOnNewDisk (a leads, c2 learned and promoted, c1 retired), then a hands leadership to b. */
function retiredThenNewLeader(): SyncNet {
  const net = readdedOnNewDisk();
  const a = net.get("a");
  a.transferLeadership("b");
  net.stabilize();
  net.tick(3);
  assert.equal(net.leader(), "b", "b leads");
  return net;
}

const fromOld = (type: Message["type"], term: number): Message =>
  newMessage({ type, from: "c", to: "b", term, incarnation: "c1" });

for (const [what, later] of [
  ["a heartbeat answer", 0],
  ["a message at a later term", 3],
] as const) {
  test(`a new leader: ${what} of the directory retired under the previous leader changes nothing`, () => {
    const net = retiredThenNewLeader();
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
