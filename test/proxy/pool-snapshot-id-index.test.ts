// PoolSnapshot.byId after joins and leaves (proxy/routing/id-index.ts): every lookup gives the
// member's table index over long seeded chains of updates (leavers that rejoin, several at
// once, enough joiners to fall back to a plain Map), and a one-member join at 5,000 members
// does not build a Map of the whole pool (450 KiB of JS heap per reload before).

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema, type PoolConfig } from "../../config/file/schema.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput, PoolSnapshot } from "../../proxy/routing/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_2018);

function settingsFor(algorithm: "ring" | "maglev"): PoolConfig {
  return configSchema.parse({
    pools: { p: { members: [], algorithm } },
    routes: [{ pool: "p", key: ["ip"] }],
  }).pools.p;
}

const address = Object.freeze({ host: "127.0.0.1", port: 1024 });
const inputFor = (id: string): MemberInput => ({ id, address, weight: 1 });

for (const algorithm of ["ring", "maglev"] as const) {
  test(`${algorithm}: byId answers every member's index and no one else's across 300 seeded joins and leaves`, () => {
    const rnd = seededRandom(SEED);
    const settings = settingsFor(algorithm);
    const everSeen = new Set<string>();
    let ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push(`m${String(i).padStart(4, "0")}`);
    for (const id of ids) everSeen.add(id);
    let snap: PoolSnapshot = buildPoolSnapshot({
      name: "p",
      settings,
      members: ids.map(inputFor),
      ringVersion: 1,
    });
    for (let step = 0; step < 300; step++) {
      const r = rnd();
      const present = new Set(ids);
      if (r < 0.45 || ids.length < 20) {
        // One to three join: new ids, or a leaver coming back.
        const count = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < count; k++) {
          const gone = [...everSeen].filter((id) => !present.has(id));
          const id =
            gone.length > 0 && rnd() < 0.3
              ? gone[Math.floor(rnd() * gone.length)]
              : `m${String(Math.floor(rnd() * 10_000)).padStart(4, "0")}x${step}`;
          present.add(id);
          everSeen.add(id);
        }
      } else if (r < 0.9) {
        const count = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < count; k++) present.delete(ids[Math.floor(rnd() * ids.length)]);
      }
      // else: nothing joins or leaves (a flag-only update shares the index).
      ids = [...present].sort();
      snap = updatePoolSnapshot(snap, {
        name: "p",
        settings,
        members: ids.map(inputFor),
        ringVersion: step + 2,
      });
      const where = `step ${step} ${seedNote(SEED)}`;
      assert.equal(snap.byId.size, snap.members.length, where);
      for (let i = 0; i < snap.members.length; i++) {
        assert.equal(snap.byId.get(snap.members[i].id), i, `${snap.members[i].id} at ${where}`);
        assert.ok(snap.byId.has(snap.members[i].id), where);
      }
      for (const id of everSeen)
        if (!present.has(id)) {
          assert.equal(snap.byId.get(id), undefined, `${id} left, at ${where}`);
          assert.equal(snap.byId.has(id), false, where);
        }
      assert.equal(snap.byId.get("never-a-member"), undefined, where);
      assert.deepEqual(
        [...snap.byId],
        snap.members.map((m, i) => [m.id, i]),
        where,
      );
    }
  });
}

test("a one-member join and leave at 5,000 members build no Map of the pool's ids", () => {
  const settings = settingsFor("ring");
  const base: MemberInput[] = [];
  for (let i = 0; i < 5000; i++) base.push(inputFor(`m${String(i).padStart(5, "0")}`));
  let snap = buildPoolSnapshot({ name: "p", settings, members: base, ringVersion: 1 });
  const allocated: number[] = [];
  for (let step = 0; step < 24; step++) {
    // Joiners last in id order: no member's index moves, so what is left to allocate is the
    // snapshot's arrays and the joiner, not 2,500 moved member objects.
    const members = step % 2 === 0 ? [...base, inputFor(`m99999j${step}`)] : base;
    const h0 = process.memoryUsage().heapUsed;
    snap = updatePoolSnapshot(snap, { name: "p", settings, members, ringVersion: step + 2 });
    allocated.push(process.memoryUsage().heapUsed - h0);
    assert.equal(snap.byId.get(members[members.length - 1].id), members.length - 1);
  }
  const warm = [...allocated.slice(4)].sort((a, b) => a - b)[10];
  assert.ok(
    warm < 256 * 1024,
    `median JS heap bytes per one-member update ${warm} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
  );
});
