// Live counters survive snapshot swaps: in-flight counts and local skips carry over by
// member id, and a request started on an old snapshot releases against the new one.

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { chooseMember, explainChoice } from "../../proxy/routing/member-choice.js";
import { LiveBook } from "../../proxy/routing/pool-live.js";
import { buildPoolSnapshot } from "../../proxy/routing/pool-snapshot.js";

const settings = configSchema.parse({
  pools: { p: { members: [], balanceFactor: 1.25 } },
  routes: [{ pool: "p", key: ["ip"] }],
}).pools.p;

function snap(ids: string[], version: number, flags: Record<string, { healthy?: boolean }> = {}) {
  return buildPoolSnapshot({
    name: "p",
    settings,
    ringVersion: version,
    members: ids.map((id, i) => ({
      id,
      address: { host: "127.0.0.1", port: 9000 + i },
      weight: 1,
      ...flags[id],
    })),
  });
}

test("counts carry over by id when the pool's snapshot is replaced, whatever the versions", () => {
  const book = new LiveBook();
  const s1 = snap(["a", "b", "c"], 5);
  const live = book.for(s1);
  const ib = s1.byId.get("b") as number;
  live.acquire("b", s1, ib);
  live.acquire("b", s1, ib);
  live.skip("c", s1, s1.byId.get("c") as number, 1000);
  // A reload that restarts versions at 1 and adds a member.
  const s2 = snap(["d", "c", "b", "a"], 1);
  assert.equal(book.for(s2), live);
  assert.equal(live.snapshot, s2);
  assert.equal(live.inFlight[s2.byId.get("b") as number], 2);
  assert.equal(live.totalInFlight, 2);
  assert.equal(live.skipUntil[s2.byId.get("c") as number], 1000);
  // The request started on s1 releases against s2.
  live.release("b", s1, ib);
  assert.equal(live.inFlight[s2.byId.get("b") as number], 1);
  assert.equal(live.totalInFlight, 1);
  // A member that left is forgotten; releasing it is harmless.
  const s3 = snap(["a", "c", "d"], 2);
  book.for(s3);
  live.release("b", s2, s2.byId.get("b") as number);
  assert.equal(live.totalInFlight, 0);
  // A retry still walking s2 (its request's snapshot) takes its slot on s3's index for the id.
  live.acquire("a", s2, s2.byId.get("a") as number);
  assert.equal(live.inFlight[s3.byId.get("a") as number], 1);
  assert.equal(live.totalInFlight, 1);
  live.acquire("b", s2, s2.byId.get("b") as number);
  assert.equal(live.totalInFlight, 1, "a member that left takes no slot");
});

test("chooseMember honours local skips until their deadline, and explain names them", () => {
  const book = new LiveBook();
  const s = snap(["a", "b", "c"], 1);
  const live = book.for(s);
  const hash = 12345;
  const owner = s.table.lookup(hash);
  assert.equal(chooseMember(s, hash, live, 0), owner);
  live.skip(s.members[owner].id, s, owner, 500);
  const next = chooseMember(s, hash, live, 100);
  assert.notEqual(next, owner);
  const ex = explainChoice(s, hash, live, 100);
  assert.deepEqual(ex.skipped, [{ id: s.members[owner].id, reason: "refused_locally" }]);
  assert.equal(ex.member, s.members[next].id);
  assert.equal(chooseMember(s, hash, live, 600), owner, "the skip window ended");
});
