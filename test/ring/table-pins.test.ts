// Cross-instance, cross-release pins: a fixed membership must map fixed keys to the same
// owners forever (point and permutation contracts in ring-hash.ts and maglev.ts).
// If one of these changes, every deployed fleet re-shards on upgrade.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashBytes, hashKey } from "../../ring/hash.js";
import { buildMaglev } from "../../ring/maglev.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import type { HashTable } from "../../ring/types.js";
import { seedNote, testSeed } from "../support/prng.js";

// The pinned tables below are golden values and stay fixed; only the random probe hashes are seeded.
const SEED = testSeed(7);

const members = [
  { id: "10.0.0.1:8080", weight: 1 },
  { id: "10.0.0.2:8080", weight: 2 },
  { id: "cache-c", weight: 1 },
  { id: "db-ünïcode", weight: 3 },
];
const keys = ["user:1", "user:2", "user:3", "session-abc", "/a/b/c", "日本", "", "x"];
const owners = (t: HashTable): string[] => keys.map((k) => t.members[t.lookup(hashKey(k))].id);

/** MurmurHash3 of the array as little-endian uint32s: one number that pins every entry. */
function fingerprint(values: ArrayLike<number>): number {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setUint32(i * 4, values[i], true);
  return hashBytes(bytes);
}

describe("table pins", () => {
  it("ring hash owners are pinned", () => {
    assert.deepEqual(owners(buildRingHash(members)), RING_PINS);
  });
  it("maglev owners are pinned", () => {
    assert.deepEqual(owners(buildMaglev(members)), MAGLEV_PINS);
  });
  // Eight keys see a few slots; these pin the whole tables, so any change to the point
  // contract, the collision order or the Maglev permutation fails here.
  it("the whole ring (every point and its owner) is pinned", () => {
    const t = buildRingHash(members);
    assert.equal(t.points.length, 7 * 160);
    assert.deepEqual([fingerprint(t.points), fingerprint(t.owners)], [1838893454, 3028495018]);
  });
  it("the whole maglev table is pinned", () => {
    const t = buildMaglev(members);
    assert.equal(t.table.length, 65537);
    assert.equal(fingerprint(t.table), 3953116666);
  });
});

const RING_PINS = [
  "10.0.0.2:8080",
  "10.0.0.1:8080",
  "10.0.0.2:8080",
  "db-ünïcode",
  "10.0.0.2:8080",
  "10.0.0.2:8080",
  "10.0.0.2:8080",
  "10.0.0.2:8080",
];
const MAGLEV_PINS = [
  "db-ünïcode",
  "10.0.0.2:8080",
  "10.0.0.1:8080",
  "10.0.0.2:8080",
  "10.0.0.1:8080",
  "10.0.0.1:8080",
  "10.0.0.2:8080",
  "10.0.0.1:8080",
];

describe("maglev slot arithmetic", () => {
  it("lookup(h) is table[h % size] for edge and random hashes", async () => {
    const { randomHashes } = await import("./support.js");
    for (const size of [7, 65537, 655373]) {
      const t = buildMaglev(members, { tableSize: size });
      const hs = [
        0,
        1,
        size - 1,
        size,
        0x7fffffff,
        0x80000000,
        0xfffffffe,
        0xffffffff,
        ...randomHashes(SEED + size, 5000),
      ];
      for (const h of hs)
        assert.equal(t.lookup(h), t.table[h % size], `size ${size} hash ${h} (${seedNote(SEED)})`);
    }
  });
});
