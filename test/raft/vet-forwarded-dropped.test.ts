// The leader vets a follower's forwarded proposal (RaftConfig.vetForwarded) only when it will be
// appended. The driver counts what a vetted proposal may add to the state against
// maxStateBytes until its entry is applied (4c32e38); a proposal the core then dropped (no room
// under maxUncommittedBytes) was counted and never applied, so the count kept it until the
// leader had applied everything it appended: under steady load, never, and each stall added
// more, until the leader refused every proposal as over the state bound. Seen: the leader vetted
// every forwarded proposal and appended only those with room. Pure core, deterministic.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfState } from "../../config/raft/types.js";
import { SyncNet, text } from "./sim/sync-net.js";

const ABC: ConfState = { voters: ["a", "b", "c"], learners: [] };

test("a forwarded proposal dropped for the uncommitted bound is not vetted", () => {
  const vetted: string[] = [];
  const net = new SyncNet(["a", "b", "c"], ABC, {
    maxUncommittedBytes: 100,
    vetForwarded: (data) => {
      vetted.push(new TextDecoder().decode(data));
      return data;
    },
  });
  net.elect("a");
  const a = net.nodes.get("a")!;
  const before = a.storage.lastIndex();
  // Nothing commits from here: every answer to the leader is lost.
  net.filter = (m) => !(m.to === "a" && m.type === "appResp");
  const sent: string[] = [];
  for (let i = 0; i < 6; i++) {
    const p = `forwarded-${i}-${"x".repeat(28)}`; // 40 bytes: two fit under 100
    sent.push(p);
    net.get("b").propose(text(p));
    net.stabilize();
  }
  const appended = a.storage
    .entries(before + 1, a.storage.lastIndex() + 1)
    .filter((e) => e.type === "normal" && e.data.length > 0)
    .map((e) => new TextDecoder().decode(e.data));
  assert.ok(
    appended.length > 0 && appended.length < sent.length,
    `some appended, some dropped: ${appended.length}`,
  );
  assert.deepEqual(vetted, appended, "the leader vetted forwarded proposals it then dropped");
});
