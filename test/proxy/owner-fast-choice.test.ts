// chooseMember takes the key's owner with one table lookup when the request has tried nothing,
// the pool has no bounded load and the owner may serve (eligible, not refused locally): no walk
// (table.pick) at all. Every other request walks as before. The choice is the same either way:
// the first member in successor order that is eligible and not skipped, here checked against
// successors() on ring and Maglev pools with ineligible members, local skips and half-open
// members (a probe gate that admits every other ask).

import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseMember, ownerOfLastChoice } from "../../proxy/routing/member-choice.js";
import { LiveBook } from "../../proxy/routing/pool-live.js";
import type { PoolSnapshot, ProbeGate } from "../../proxy/routing/types.js";
import type { AcceptMember } from "../../ring/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { randomPoolSnapshot } from "../support/random-pool-snapshot.js";

const SEED = testSeed(0xfa57);

/** The snapshot with its table's walks counted and a probe gate admitting every other ask. */
function counted(s: PoolSnapshot): { snap: PoolSnapshot; picks: () => number } {
  let picks = 0;
  const table = s.table;
  const countingTable = Object.create(table) as typeof table;
  countingTable.pick = (hash: number, accept: AcceptMember) => {
    picks++;
    return table.pick(hash, accept);
  };
  let asks = 0;
  const probe: ProbeGate = { admit: () => asks++ % 2 === 0, release() {}, available: () => true };
  return { snap: { ...s, table: countingTable, probe }, picks: () => picks };
}

for (const algorithm of ["ring", "maglev"] as const) {
  test(`${algorithm}: an owner that may serve is taken without a walk; the choice equals the successor order's (${seedNote(SEED)})`, () => {
    const rand = seededRandom(SEED);
    const { snap, picks } = counted(randomPoolSnapshot({ algorithm, members: 40, rand, halfOpen: true }));
    const live = new LiveBook().for(snap);
    // Some members refuse connections locally until t=1000.
    for (let i = 0; i < 40; i += 7) live.skip(snap.members[i].id, snap, i, 1000);
    let ownerServes = 0;
    let walked = 0;
    for (let i = 0; i < 5000; i++) {
      const hash = Math.floor(rand() * 0x100000000) >>> 0;
      const now = rand() < 0.5 ? 500 : 1500; // the skips hold, or have passed
      const owner = snap.table.lookup(hash);
      const ownerMay = snap.eligible[owner] === 1 && !(live.skipUntil[owner] > now);
      const before = picks();
      const chosen = chooseMember(snap, hash, live, now);
      assert.equal(ownerOfLastChoice(), owner, `${seedNote(SEED)} hash ${hash}`);
      if (ownerMay) {
        ownerServes++;
        assert.equal(chosen, owner, `${seedNote(SEED)} hash ${hash}: the owner may serve`);
        assert.equal(picks(), before, `${seedNote(SEED)} hash ${hash}: walked for an owner that may serve`);
        continue;
      }
      walked++;
      assert.equal(picks(), before + 1, `hash ${hash}: no walk for an owner that may not serve`);
      // The walk's answer: the first in successor order that is eligible and not skipped (a
      // half-open member only when the gate admits it, which the walk has asked: not checked).
      if (chosen >= 0 && snap.eligible[chosen] === 2) continue;
      let expected = -1;
      for (const m of snap.table.successors(hash)) {
        if (snap.eligible[m] === 2) break; // the gate decided there; only "chosen" tells
        if (snap.eligible[m] === 1 && !(live.skipUntil[m] > now)) {
          expected = m;
          break;
        }
      }
      if (expected >= 0) assert.equal(chosen, expected, `${seedNote(SEED)} hash ${hash}`);
    }
    assert.ok(ownerServes > 1000 && walked > 500, `owner served ${ownerServes}, walked ${walked}`);
  });
}

test(`a request that tried a member walks, and never gets a member it tried (${seedNote(SEED)})`, () => {
  const rand = seededRandom(SEED + 1);
  const { snap, picks } = counted(
    randomPoolSnapshot({ algorithm: "ring", members: 10, rand, halfOpen: true }),
  );
  const live = new LiveBook().for(snap);
  for (let i = 0; i < 500; i++) {
    const hash = Math.floor(rand() * 0x100000000) >>> 0;
    const owner = snap.table.lookup(hash);
    const before = picks();
    const chosen = chooseMember(snap, hash, live, 0, { count: 1, first: owner, rest: null });
    assert.equal(picks(), before + 1);
    assert.notEqual(chosen, owner, `hash ${hash}: chose the member it tried`);
  }
});
