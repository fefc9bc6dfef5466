// The SyncNet schedule of a member re-added under its id on a new disk, which the retired-
// directory tests start from (readd-stale-incarnation, retired-new-leader): the old process's
// directory "c1" is then retired on the leader.

import assert from "node:assert/strict";
import { incarnationIn } from "../../../config/raft/core/index.js";
import type { ConfState } from "../../../config/raft/types.js";
import { SyncNet, text } from "./sync-net.js";

/** Three voters a, b, c: where the schedule starts. */
export const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

/**
 * a leads a, b, c; c loses its disk and is replaced as "c1"; c is removed, c1's process dies,
 * c is re-added naming no directory (trusting c1) and comes back on a new disk "c2", which the
 * leader learns, replicates to and promotes.
 */
export function readdedOnNewDisk(): SyncNet {
  const net = new SyncNet(["a", "b", "c"], ABC);
  net.elect("a");
  const a = net.get("a");
  a.propose(text("before"));
  net.stabilize();
  net.loseDisk("c", "c1");
  net.tick(4, ["a"]);
  assert.equal(incarnationIn(a.status().conf, "c"), "c1");
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"]);
  a.proposeConfChange({ type: "removeNode", node: "c" });
  net.stabilize();
  assert.deepEqual(a.status().conf, { voters: ["a", "b"], learners: [] });
  // c1's process is gone (nothing of it is heard) when c is re-added naming no directory.
  net.isolate("c");
  a.proposeConfChange({ type: "addLearner", node: "c" });
  net.stabilize();
  assert.equal(incarnationIn(a.status().conf, "c"), "", "re-added naming no directory");
  assert.deepEqual(a.leaderBookkeeping().trusted, ["c"], "c1 is trusted for the re-add");
  // c is back on a new disk.
  net.loseDisk("c", "c2");
  net.recover();
  // Learners hear a heartbeat once per election timeout (10 ticks).
  net.tick(20, ["a"]);
  a.propose(text("after"));
  net.stabilize();
  assert.equal(incarnationIn(a.status().conf, "c"), "c2", "the leader learned the new directory");
  assert.deepEqual(a.leaderBookkeeping().trusted, [], "c1 still trusted once c2 is learned");
  a.proposeConfChange({ type: "addVoter", node: "c" });
  net.stabilize();
  assert.deepEqual(a.status().conf.voters, ["a", "b", "c"], "c2 promoted");
  return net;
}
