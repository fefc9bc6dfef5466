// A request's retry on the pool snapshot it started with, after two membership updates
// (issue 16): the snapshot's ring had its arrays handed on by the second update, and the
// retry's chooseMember rebuilt the whole table on the request path. Through the real
// updatePoolSnapshot chain at 3,000 members: a member that left and came back costs the held
// snapshot nothing (its ring shares the arrays), other changes cost an update from a later
// table and no fresh build (ring/ring-cells.ts counts restores). The retry's choices equal
// those of a fresh snapshot of the same members, for every key tried.

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema, type PoolConfig } from "../../config/file/schema.js";
import { chooseMember } from "../../proxy/routing/member-choice.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput, PoolSnapshot } from "../../proxy/routing/types.js";
import { cellRestores } from "../../ring/ring-cells.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_1516);

const settings: PoolConfig = configSchema.parse({
  pools: { p: { members: [], algorithm: "ring" } },
  routes: [{ pool: "p", key: ["ip"] }],
}).pools.p;
const address = Object.freeze({ host: "127.0.0.1", port: 1024 });

function snapshotInput(ids: readonly string[], version: number) {
  return {
    name: "p",
    settings,
    members: [...ids].sort().map((id): MemberInput => ({ id, address, weight: 1 })),
    ringVersion: version,
  };
}

/** The member ids a retry reaches for `hash`: the first choice, then one more with it tried. */
function retryChoices(snap: PoolSnapshot, hash: number): string[] {
  const first = chooseMember(snap, hash, null, 0);
  const second = chooseMember(snap, hash, null, 0, { count: 1, first, rest: null });
  return [snap.members[first].id, snap.members[second].id];
}

for (const back of [true, false]) {
  test(`a retry on a snapshot held across two updates (${back ? "the member comes back" : "other members"}) builds no table afresh`, () => {
    const rnd = seededRandom(SEED ^ (back ? 1 : 2));
    const ids: string[] = [];
    for (let i = 0; i < 3000; i++) ids.push(`m${String(i).padStart(5, "0")}`);
    const held = buildPoolSnapshot(snapshotInput(ids, 1));
    const gone = ids[Math.floor(rnd() * ids.length)];
    const ids1 = [...ids.filter((id) => id !== gone), "joiner-1"];
    const s1 = updatePoolSnapshot(held, snapshotInput(ids1, 2));
    const out = ids1[Math.floor(rnd() * ids1.length)];
    const ids2 = back ? ids : [...ids1.filter((id) => id !== out), "joiner-2"];
    const s2 = updatePoolSnapshot(s1, snapshotInput(ids2, 3));
    const before = cellRestores();
    const hashes: number[] = [];
    for (let i = 0; i < 50; i++) hashes.push(Math.floor(rnd() * 2 ** 32));
    const got = hashes.map((h) => retryChoices(held, h));
    const after = cellRestores();
    assert.equal(after.fresh - before.fresh, 0, `no fresh build on the retry ${seedNote(SEED)}`);
    assert.equal(after.fromHeir - before.fromHeir, back ? 0 : 1, `restores by update ${seedNote(SEED)}`);
    const fresh = buildPoolSnapshot(snapshotInput(ids, 1));
    for (const [i, h] of hashes.entries())
      assert.deepEqual(got[i], retryChoices(fresh, h), `key hash ${h} ${seedNote(SEED)}`);
    // The current snapshot still answers as its own fresh build.
    const fresh2 = buildPoolSnapshot(snapshotInput(ids2, 3));
    for (const h of hashes)
      assert.deepEqual(retryChoices(s2, h), retryChoices(fresh2, h), `s2 ${seedNote(SEED)}`);
  });
}
