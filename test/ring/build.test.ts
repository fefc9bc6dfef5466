// buildTable (config-driven construction), ring-hash point collisions, and hashKey on huge keys.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BoundedLoad,
  buildTable,
  hashBytes,
  hashKey,
  Maglev,
  RING_CONFIG_ERROR_CODES,
  RingConfigError,
  RingHash,
  withBoundedLoad,
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
    assert.throws(() => buildTable({ algorithm: "ring", members, tableSize: 101 }), {
      code: "RING_OPTION_MISMATCH",
      message: /tableSize applies to maglev only/,
    });
    assert.throws(() => buildTable({ algorithm: "maglev", members, pointsPerWeight: 10 }), {
      code: "RING_OPTION_MISMATCH",
      message: /pointsPerWeight applies to ring only/,
    });
    assert.throws(
      () => buildTable({ algorithm: "rendezvous" as "ring", members }),
      (e: unknown) =>
        e instanceof RingConfigError &&
        e.code === "RING_UNKNOWN_ALGORITHM" &&
        /algorithm must be "ring" or "maglev"/.test(e.message),
    );
  });
});

describe("ring errors", () => {
  it("every code in RING_CONFIG_ERROR_CODES is what some bad input produces, and only those", () => {
    const one = [{ id: "a", weight: 1 }];
    const cases: Array<[string, () => unknown]> = [
      ["RING_INVALID_MEMBER", () => buildTable({ algorithm: "ring", members: [{ id: "", weight: 1 }] })],
      ["RING_DUPLICATE_MEMBER", () => buildTable({ algorithm: "maglev", members: [...one, ...one] })],
      [
        "RING_TOO_MANY_MEMBERS",
        () =>
          buildTable({
            algorithm: "maglev",
            members: ["a", "b", "c", "d"].map((id) => ({ id, weight: 1 })),
            tableSize: 3,
          }),
      ],
      [
        "RING_TOO_MANY_POINTS",
        () => buildTable({ algorithm: "ring", members: [{ id: "a", weight: 2 ** 40 }] }),
      ],
      [
        "RING_INVALID_POINTS_PER_WEIGHT",
        () => buildTable({ algorithm: "ring", members: one, pointsPerWeight: 0 }),
      ],
      ["RING_INVALID_TABLE_SIZE", () => buildTable({ algorithm: "maglev", members: one, tableSize: 100 })],
      ["RING_UNKNOWN_ALGORITHM", () => buildTable({ algorithm: "jump" as "ring", members: one })],
      ["RING_OPTION_MISMATCH", () => buildTable({ algorithm: "ring", members: one, tableSize: 7 })],
      [
        "RING_INVALID_BOUNDED_LOAD",
        () => withBoundedLoad(buildTable({ algorithm: "ring", members: one }), { balanceFactor: 0.5 }),
      ],
    ];
    const seen: string[] = [];
    for (const [code, bad] of cases) {
      assert.throws(bad, (e: unknown) => e instanceof RingConfigError && e.code === code, code);
      seen.push(code);
    }
    assert.deepEqual(seen.sort(), [...RING_CONFIG_ERROR_CODES].sort());
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
