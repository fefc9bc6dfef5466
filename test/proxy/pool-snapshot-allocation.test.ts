// The committed path's snapshot update (updatePoolSnapshot, as a reload adding or removing one
// member of a 5,000-member ring pool runs it) allocates ArrayBuffers in proportion to the
// change, not the pool's ring: the new ring writes into the arrays of the ring two updates back
// (ring/ring-cells.ts). What is left per update is the snapshot's own per-member arrays
// (eligibility, slots, and since ce2c641 the id index's per-member positions: 65-70 KiB at
// 5,000 members, a few bytes per member). Before: 3.6 MB per update (packed entries, index and
// temporaries). Median of process.memoryUsage().arrayBuffers across each update (a
// GC inside one can only lower it).

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema, type PoolConfig } from "../../config/file/schema.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput, PoolSnapshot } from "../../proxy/routing/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_2016);

function settingsFor(o: Record<string, unknown>): PoolConfig {
  return configSchema.parse({ pools: { p: { members: [], ...o } }, routes: [{ pool: "p", key: ["ip"] }] })
    .pools.p;
}

test("a one-member reload of a 5,000-member ring pool allocates no ArrayBuffer for the ring", () => {
  const rnd = seededRandom(SEED);
  const settings = settingsFor({ algorithm: "ring" });
  const base: MemberInput[] = [];
  for (let i = 0; i < 5000; i++)
    base.push({
      id: `m${String(i).padStart(5, "0")}`,
      address: Object.freeze({ host: "127.0.0.1", port: 1024 + (i % 50) }),
      weight: 1,
    });
  let snap: PoolSnapshot = buildPoolSnapshot({ name: "p", settings, members: base, ringVersion: 1 });
  const allocated: number[] = [];
  for (let step = 0; step < 24; step++) {
    // Alternately a joiner at a seeded place in id order, and back to the base pool.
    const members =
      step % 2 === 0
        ? [
            ...base,
            {
              id: `m${String(Math.floor(rnd() * 5000)).padStart(5, "0")}j`,
              address: base[0].address,
              weight: 1,
            },
          ]
        : base;
    const before = process.memoryUsage().arrayBuffers;
    snap = updatePoolSnapshot(snap, { name: "p", settings, members, ringVersion: step + 2 });
    allocated.push(process.memoryUsage().arrayBuffers - before);
  }
  const warm = [...allocated.slice(4)].sort((a, b) => a - b)[10];
  assert.ok(
    warm < 128 * 1024,
    `median ArrayBuffer bytes per one-member update ${warm} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
  );
  assert.equal(snap.members.length, 5000);
});
