// Cross-instance, cross-release pins: a fixed membership must map fixed keys to the same
// owners forever (point and permutation contracts in ring-hash.ts and maglev.ts).
// If one of these changes, every deployed fleet re-shards on upgrade.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashKey } from "../../ring/hash.js";
import { buildMaglev } from "../../ring/maglev.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import type { HashTable } from "../../ring/types.js";

const members = [
  { id: "10.0.0.1:8080", weight: 1 },
  { id: "10.0.0.2:8080", weight: 2 },
  { id: "cache-c", weight: 1 },
  { id: "db-ünïcode", weight: 3 },
];
const keys = ["user:1", "user:2", "user:3", "session-abc", "/a/b/c", "日本", "", "x"];
const owners = (t: HashTable): string[] => keys.map((k) => t.members[t.lookup(hashKey(k))].id);

describe("table pins", () => {
  it("ring hash owners are pinned", () => {
    assert.deepEqual(owners(buildRingHash(members)), RING_PINS);
  });
  it("maglev owners are pinned", () => {
    assert.deepEqual(owners(buildMaglev(members)), MAGLEV_PINS);
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
        ...randomHashes(size, 5000),
      ];
      for (const h of hs)
        assert.equal(t.lookup(h), t.table[h % size], `size ${size} hash ${h} (seed ${size})`);
    }
  });
});
