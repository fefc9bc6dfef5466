// A snapshot that replaces a log's uncommitted suffix rolls back the configuration changes in it
// as a cut does (retired-truncated.test.ts): the rollback retires nothing. b held an uncommitted
// replacement of c by "c2" (its leader a was cut off before committing it) and then installed a
// snapshot of the next leader naming c on "c1" again. The install retired c2, as if c had gone
// from c2 back to c1, and the snapshot file kept it. So when c really came back on disk c2 and
// b led, b dropped every answer of c2 as a dead directory's: c (a voter) stayed on its dead "c1",
// the cluster one voter short for as long as b led. Now the install undoes the suffix first.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationIn } from "../../config/raft/core/index.js";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const FIVE: ConfState = { voters: ["a", "b", "c", "d", "e"], learners: [] };

test("a snapshot replacing an uncommitted replacement does not retire the directory it named", () => {
  const net = new SyncNet(["a", "b", "c", "d", "e"], FIVE);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  net.loseDisk("c", "c1");
  net.tick(4, ["a"]);
  net.tick(20, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1", "a learned c's directory c1");
  assert.deepEqual(a.status().conf.voters, FIVE.voters, "c1 promoted back");

  // a, cut off but from b, appends a replacement of c by "c2" that never commits.
  for (const id of ["c", "d", "e"]) net.cut("a", id);
  const cut = a.replaceIncarnation("c", "c2");
  net.stabilize();
  assert.equal(incarnationIn(net.get("b").status().conf, "c"), "c2", "b holds the replacement");

  // b is cut off too; c, d and e go on under d, which compacts past b's log.
  net.isolate("a");
  net.isolate("b");
  net.tick(30, ["c", "d", "e"]);
  const lead = net.leader();
  assert.ok(lead === "c" || lead === "d" || lead === "e", `c, d or e leads (${lead})`);
  const l = net.nodes.get(lead)!;
  for (let k = 0; k < 5; k++) l.raft.propose(text(`next ${k}`));
  net.stabilize();
  const index = l.raft.status().applied;
  l.storage.compact(index, text(`state@${index}`), l.raft.retiredAt(index));
  assert.ok(l.storage.firstIndex() > cut.index + 1, "the leader compacted past b's log");

  // b hears the leader again and installs its snapshot (c on c1).
  net.recover();
  net.isolate("a");
  net.tick(3, [lead]);
  const b = net.get("b");
  assert.ok(b.status().commit >= index, "b caught up");
  assert.equal(incarnationIn(b.status().conf, "c"), "c1", "the snapshot names c on c1");

  // b leads; c comes back on a new disk "c2": b must learn it and promote it back.
  net.get(lead).transferLeadership("b");
  net.stabilize();
  assert.equal(net.leader(), "b", "b leads");
  net.loseDisk("c", "c2");
  net.tick(30, ["b"]);
  assert.equal(incarnationIn(b.status().conf, "c"), "c2", "b dropped the live c2 as a retired directory");
  assert.deepEqual(b.status().conf.voters, FIVE.voters, "c2 promoted back");
});
