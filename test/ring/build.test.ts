// buildTable (config-driven construction), ring-hash point collisions, and hashKey on huge keys.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BoundedLoad,
  buildTable,
  hashBytes,
  hashKey,
  Maglev,
  RingConfigError,
  RingHash,
} from "../../ring/index.js";

describe("buildTable", () => {
  const members = [
    { id: "b", weight: 1 },
    { id: "a", weight: 2 },
  ];
  it("builds each algorithm, optionally wrapped in bounded load", () => {
    assert.ok(buildTable({ algorithm: "ring", members }) instanceof RingHash);
    assert.ok(buildTable({ algorithm: "maglev", members, tableSize: 101 }) instanceof Maglev);
    const b = buildTable({ algorithm: "ring", members, pointsPerWeight: 10, balanceFactor: 1.5 });
    assert.ok(b instanceof BoundedLoad);
    assert.equal(b.algorithm, "bounded-load/ring");
    assert.equal(b.balanceFactor, 1.5);
  });
  it("rejects mismatched options and unknown algorithms", () => {
    assert.throws(
      () => buildTable({ algorithm: "ring", members, tableSize: 101 }),
      /tableSize applies to maglev only/,
    );
    assert.throws(
      () => buildTable({ algorithm: "maglev", members, pointsPerWeight: 10 }),
      /pointsPerWeight applies to ring only/,
    );
    assert.throws(
      () => buildTable({ algorithm: "rendezvous" as "ring", members }),
      (e: unknown) => e instanceof RingConfigError && /algorithm must be "ring" or "maglev"/.test(e.message),
    );
  });
});

describe("ring hash point collisions", () => {
  // hashKey("c22580-0") === hashKey("c37051-0") === 2672450545 (found by search, pinned).
  const H = 2672450545;
  it("the colliding point goes to the smaller id, whatever the input order", () => {
    assert.equal(hashKey("c22580-0"), H);
    assert.equal(hashKey("c37051-0"), H);
    for (const order of [
      ["c37051", "c22580"],
      ["c22580", "c37051"],
    ]) {
      const t = buildTable({
        algorithm: "ring",
        members: order.map((id) => ({ id, weight: 1 })),
        pointsPerWeight: 1,
      });
      assert.equal(t.members[t.lookup(H)].id, "c22580");
      assert.equal(t.members[t.lookup(H - 1)].id, "c22580");
      assert.deepEqual(
        [...t.successors(H)].map((m) => t.members[m].id),
        ["c22580", "c37051"],
      );
    }
  });
});

describe("hashKey on large keys", () => {
  it("matches hashBytes for keys past the scratch limit, ASCII and not", () => {
    const enc = new TextEncoder();
    for (const key of ["k".repeat(200_000), "é".repeat(30_000), `${"x".repeat(70_000)}日`]) {
      const bytes = enc.encode(key);
      assert.equal(hashKey(key, 5), hashBytes(bytes, bytes.length, 5), `length ${key.length}`);
    }
    assert.equal(hashKey("test"), 0xba6bd213);
  });
});
