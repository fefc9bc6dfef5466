// The ring build's fast paths against the contract they replace: PointHasher equals
// hashKey(`${id}-${i}`, 0) for ASCII, multi-byte and long ids, and a ring built with them
// equals the straightforward build (a string per point, packed hash * 2^21 + member index,
// comparison sort), points and owners alike, across seeded random member sets and weights.

import assert from "node:assert/strict";
import { test } from "node:test";
import { hashKey } from "../../ring/hash.js";
import { buildPackedRing, unpackPoints } from "../../ring/packed-build.js";
import { PointHasher } from "../../ring/point-hash.js";
import { bucketIndex, sortPoints } from "../../ring/point-sort.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import type { RingMember } from "../../ring/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(0x16_4);

function randomId(rnd: () => number): string {
  const alphabet = ["a", "Z", "0", ".", ":", "-", "é", "ß", "中", "😀", "\ud800"];
  const len = 1 + Math.floor(rnd() * 40);
  let s = "";
  for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
  return s;
}

function referenceRing(members: readonly RingMember[], ppw: number): { points: number[]; owners: number[] } {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const packed: number[] = [];
  sorted.forEach((m, idx) => {
    for (let i = 0; i < m.weight * ppw; i++) packed.push(hashKey(`${m.id}-${i}`, 0) * 2 ** 21 + idx);
  });
  packed.sort((a, b) => a - b);
  return { points: packed.map((v) => Math.floor(v / 2 ** 21)), owners: packed.map((v) => v % 2 ** 21) };
}

test("PointHasher equals hashKey of the point string", () => {
  const rnd = seededRandom(SEED);
  const h = new PointHasher();
  for (let k = 0; k < 300; k++) {
    const id = k === 0 ? "" : k === 1 ? "x".repeat(5000) : randomId(rnd);
    h.member(id);
    for (const i of [
      0,
      1,
      9,
      10,
      99,
      100,
      159,
      160,
      999,
      1000,
      12345,
      1_000_000,
      Math.floor(rnd() * 2 ** 31),
    ]) {
      assert.equal(
        h.point(i),
        hashKey(`${id}-${i}`, 0),
        `${seedNote(SEED)}: id ${JSON.stringify(id)} point ${i}`,
      );
    }
  }
});

test("the ring build equals the string-per-point, comparison-sorted build (seeded)", () => {
  for (let s = 0; s < 25; s++) {
    const rnd = seededRandom(SEED + s);
    const n = 1 + Math.floor(rnd() * 60);
    const members: RingMember[] = [];
    const seen = new Set<string>();
    while (members.length < n) {
      const id = rnd() < 0.5 ? `m${Math.floor(rnd() * 1000)}` : randomId(rnd);
      if (seen.has(id)) continue;
      seen.add(id);
      members.push({ id, weight: 1 + Math.floor(rnd() * 3) });
    }
    const ppw = 1 + Math.floor(rnd() * 40);
    const ring = buildRingHash(members, { pointsPerWeight: ppw });
    const ref = referenceRing(members, ppw);
    assert.deepEqual([...ring.points], ref.points, `${seedNote(SEED)}, sub-seed ${SEED + s}: points`);
    assert.deepEqual([...ring.owners], ref.owners, `${seedNote(SEED)}, sub-seed ${SEED + s}: owners`);
  }
});

test("sortPoints is a stable sort by hash: equal hashes keep their input order", () => {
  const rnd = seededRandom(SEED);
  const n = 5000;
  const points = new Uint32Array(n);
  const owners = new Uint32Array(n);
  // Few distinct hashes, so ties are everywhere; owners ascending as the build feeds them.
  for (let i = 0; i < n; i++) {
    points[i] = [0, 1, 0xffff, 0x10000, 0xffffffff, 0x12345678][Math.floor(rnd() * 6)];
    owners[i] = i;
  }
  const expected = [...points].map((p, i) => [p, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out = sortPoints(points, owners);
  assert.deepEqual(
    [...out.points].map((p, i) => [p, out.owners[i]]),
    expected,
    seedNote(SEED),
  );
});

test("PointHasher.next walks point(0), point(1), ... across every digit carry", () => {
  const rnd = seededRandom(SEED + 100);
  const h = new PointHasher();
  const ref = new PointHasher();
  for (let k = 0; k < 40; k++) {
    const id = k === 0 ? "a" : randomId(rnd);
    h.member(id);
    ref.member(id);
    const count = k < 3 ? 10_050 : 1 + Math.floor(rnd() * 1200);
    for (let i = 0; i < count; i++) {
      const got = h.next();
      if (got !== ref.point(i))
        assert.equal(
          got,
          hashKey(`${id}-${i}`, 0),
          `${seedNote(SEED)}, sub-seed ${SEED + 100}: id ${id} point ${i}`,
        );
    }
  }
});

/** The general path: points in member order, the stable sortPoints, then index and packing. */
function sortedAndPacked(members: readonly RingMember[], ppw: number) {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let total = 0;
  for (const m of sorted) total += m.weight * ppw;
  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  const h = new PointHasher();
  let p = 0;
  sorted.forEach((m, idx) => {
    h.member(m.id);
    for (let i = 0; i < m.weight * ppw; i++) {
      points[p] = h.point(i);
      owners[p++] = idx;
    }
  });
  const s = sortPoints(points, owners);
  const packed = s.points.map((v, i) => ((v & 0xffff) << 16) | s.owners[i]);
  return { sorted, total, points: s.points, owners: s.owners, packed, index: bucketIndex(s.points, 16) };
}

test("buildPackedRing (and unpackPoints) equal sortPoints plus packing: points, owners, packed and index (seeded)", () => {
  const cases: Array<{ members: RingMember[]; ppw: number; what: string }> = [
    // Two ids whose point 0 collides (pinned in build.test.ts): the smaller id comes first.
    { members: ["c37051", "c22580", "x"].map((id) => ({ id, weight: 1 })), ppw: 3, what: "collision" },
    { members: [], ppw: 160, what: "empty" },
    { members: [{ id: "solo", weight: 2 }], ppw: 160, what: "one member" },
  ];
  for (let s = 0; s < 6; s++) {
    const rnd = seededRandom(SEED + 200 + s);
    const n = s < 3 ? 1 + Math.floor(rnd() * 300) : 2000 + Math.floor(rnd() * 3000);
    const members = Array.from({ length: n }, (_, i) => ({
      id: rnd() < 0.3 ? `${randomId(rnd)}#${i}` : `10.0.${i >> 8}.${i & 255}:8080`,
      weight: 1 + Math.floor(rnd() * 3),
    }));
    cases.push({
      members,
      ppw: s < 3 ? 1 + Math.floor(rnd() * 200) : 160,
      what: `${seedNote(SEED)}, sub-seed ${SEED + 200 + s}`,
    });
  }
  for (const { members, ppw, what } of cases) {
    const want = sortedAndPacked(members, ppw);
    const built = buildPackedRing(want.sorted, ppw, want.total);
    const got = { ...built, points: unpackPoints(built.packed, built.index) };
    for (const k of ["points", "owners", "packed", "index"] as const)
      assert.ok(Buffer.from(got[k].buffer).equals(Buffer.from(want[k].buffer)), `${what}: ${k}`);
    // The ring itself, built either way (under 32,768 points it takes the general sort).
    const ring = buildRingHash(members, { pointsPerWeight: ppw });
    assert.ok(
      Buffer.from(ring.points.buffer).equals(Buffer.from(want.points.buffer)),
      `${what}: ring points`,
    );
    assert.ok(
      Buffer.from(ring.owners.buffer).equals(Buffer.from(want.owners.buffer)),
      `${what}: ring owners`,
    );
  }
});
