// The Maglev fill (integer arithmetic, a round-robin fast path for equal weights) against the
// table contract written out plainly (ring/maglev.ts header): over seeded random member sets,
// weights and prime table sizes, buildMaglev's table equals the reference slot for slot. The
// fleet's agreement depends on every instance building the same table.

import assert from "node:assert/strict";
import { test } from "node:test";
import { hashKey } from "../../ring/hash.js";
import { buildMaglev, isPrime, MAGLEV_OFFSET_SEED, MAGLEV_SKIP_SEED } from "../../ring/maglev.js";
import type { RingMember } from "../../ring/types.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_160);

/** The contract, slot by slot: members in id order take turns by weight credit. */
function referenceTable(members: readonly RingMember[], size: number): number[] {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const offset = sorted.map((m) => hashKey(m.id, MAGLEV_OFFSET_SEED) % size);
  const skip = sorted.map((m) => (hashKey(m.id, MAGLEV_SKIP_SEED) % (size - 1)) + 1);
  const turns = sorted.map(() => 0);
  const credit = sorted.map(() => 0);
  const maxWeight = sorted.reduce((max, m) => Math.max(max, m.weight), 0);
  const table: number[] = new Array(size).fill(-1);
  let filled = 0;
  while (filled < size) {
    for (let m = 0; m < sorted.length && filled < size; m++) {
      credit[m] += sorted[m].weight;
      while (credit[m] >= maxWeight && filled < size) {
        credit[m] -= maxWeight;
        let c = (offset[m] + turns[m] * skip[m]) % size;
        while (table[c] !== -1) {
          turns[m]++;
          c = (offset[m] + turns[m] * skip[m]) % size;
        }
        table[c] = m;
        turns[m]++;
        filled++;
      }
    }
  }
  return table;
}

test(`maglev tables equal the plainly written contract (seed ${SEED})`, () => {
  const rnd = seededRandom(SEED);
  const primes = [7, 101, 251, 1009, 2003, 4001].filter(isPrime);
  for (let round = 0; round < 60; round++) {
    const size = pick(rnd, primes);
    const n = 1 + Math.floor(rnd() * Math.min(size, 60));
    const weighted = rnd() < 0.5;
    const members: RingMember[] = Array.from({ length: n }, (_, i) => ({
      id: `${pick(rnd, ["m", "node-", "10.0.0."])}${i}`,
      weight: weighted ? 1 + Math.floor(rnd() * 4) : 3,
    }));
    const why = `${seedNote(SEED)} round ${round}: ${n} members, size ${size}, ${weighted ? "weighted" : "equal"}`;
    assert.deepEqual(
      [...buildMaglev(members, { tableSize: size }).table],
      referenceTable(members, size),
      why,
    );
  }
});

// Up to 65,535 members the table is 16-bit (0xffff marks empty slots while filling); from
// 65,536 on, 32-bit. Both sides of the switch against the contract, equal and weighted.
test(`maglev tables at 65,535 and 65,536 members, 16-bit and 32-bit (seed ${SEED})`, () => {
  const rnd = seededRandom(SEED + 1);
  const size = 131071;
  for (const n of [65_535, 65_536]) {
    const weighted = n === 65_535 ? rnd() < 0.5 : rnd() >= 0.5;
    const members: RingMember[] = Array.from({ length: n }, (_, i) => ({
      id: `m${i}`,
      weight: weighted ? 1 + Math.floor(rnd() * 3) : 1,
    }));
    const t = buildMaglev(members, { tableSize: size });
    const why = `${seedNote(SEED)}: ${n} members, ${weighted ? "weighted" : "equal"}`;
    assert.equal(t.table instanceof Uint16Array, n <= 65_535, `${why}: element width`);
    assert.deepEqual([...t.table], referenceTable(members, size), why);
  }
});
