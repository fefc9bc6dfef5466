// OutcomeRecorders' by-pool-slot bindings (member id and recorder slot side by side) against
// what they stand in for, the member id: seeded sequences of joins, leaves and rejoins (so
// pool slots pass to joiners and released recorder slots are reused), with renumberings as a
// fresh build makes, and outcomes recorded under the current pool slots and under those of
// older snapshots (requests still in flight). Every outcome must land on the member it names
// while that member is in the pool, and nowhere once it has left.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { ClusterStateData, MemberState } from "../../config/state/types.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(0x0b5e);

/** The committed state sync() reads: one pool of `ids` (sorted), every breaker closed. */
function state(ids: readonly string[]): ClusterStateData {
  const members = [...ids]
    .sort()
    .map((id) => ({ id, breaker: { state: "closed" } }) as unknown as MemberState);
  return {
    pools: { p: { settings: { breaker: { failureStatuses: [503], halfOpenProbes: 1 } }, members } },
  } as unknown as ClusterStateData;
}

/** Pool slots of `ids`: kept by the members that stay, the lowest free one to each joiner. */
function slotsAfter(prev: ReadonlyMap<string, number>, ids: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const id of ids) {
    const s = prev.get(id);
    if (s !== undefined) {
      out.set(id, s);
      taken.add(s);
    }
  }
  let next = 0;
  for (const id of ids) {
    if (out.has(id)) continue;
    while (taken.has(next)) next++;
    out.set(id, next);
    taken.add(next);
  }
  return out;
}

test(`outcomes land on the member they name across leaves, rejoins and reused slots (seed ${SEED})`, () => {
  const rand = seededRandom(SEED);
  const recorders = new OutcomeRecorders();
  let ids = Array.from({ length: 12 }, (_, i) => `m${i}`);
  let slots = slotsAfter(new Map(), ids);
  // Pool slot maps of earlier snapshots, as requests still in flight hold them.
  const older: Array<Map<string, number>> = [];
  recorders.sync(state(ids));
  const pool = Array.from({ length: 20 }, (_, i) => `m${i}`);
  for (let step = 0; step < 400; step++) {
    const where = `step ${step} (${seedNote(SEED)})`;
    // A change: a member leaves, one (new or one that left before) joins, or a fresh build
    // renumbers every slot in id order.
    const r = rand();
    if (r < 0.4 && ids.length > 2) {
      const leaver = Math.floor(rand() * ids.length);
      ids = ids.filter((_, k) => k !== leaver);
    } else if (r < 0.8) {
      const out = pool.filter((id) => !ids.includes(id));
      if (out.length > 0) ids = [...ids, out[Math.floor(rand() * out.length)]];
    }
    older.push(slots);
    if (older.length > 4) older.shift();
    slots = r >= 0.9 ? new Map([...ids].sort().map((id, i) => [id, i])) : slotsAfter(slots, ids);
    recorders.sync(state(ids));
    // Outcomes: most under the current slots, some under an older snapshot's (for members
    // that may have left since, or whose slot passed to another member).
    const want = new Map<string, number>();
    for (let q = 0; q < 60; q++) {
      const from = rand() < 0.7 || older.length === 0 ? slots : older[Math.floor(rand() * older.length)];
      const entries = [...from.entries()];
      const [member, poolSlot] = entries[Math.floor(rand() * entries.length)];
      recorders.recordStatus("p", member, 200, rand() < 0.9 ? poolSlot : -1);
      if (ids.includes(member)) want.set(member, (want.get(member) ?? 0) + 1);
    }
    const got = new Map<string, number>();
    for (const e of recorders.drain().entries) got.set(e.member, (got.get(e.member) ?? 0) + e.success);
    assert.deepEqual(
      [...got.entries()].sort(),
      [...want.entries()].sort(),
      `${where}: successes by member, recorded against expected`,
    );
  }
});
