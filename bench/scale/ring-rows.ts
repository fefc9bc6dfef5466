// Table rows of the scale bench, in process: build time and lookups per second of ring hash
// and Maglev at a small and a large member count, measured back to back in one run. Lookups
// go through lookup(hash) over pre-hashed keys, so the table's own cost (and its cache
// footprint) is what is compared.

import { buildMaglev } from "../../ring/maglev.js";
import { randomKeyHashes } from "../../ring/random.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import type { HashTable, RingMember } from "../../ring/types.js";
import { median } from "./processes.js";

export interface TableFigure {
  readonly algorithm: "ring" | "maglev";
  readonly members: number;
  readonly tableSize?: number;
  readonly buildMs: number;
  readonly lookupsPerSec: number;
}

/** A prime of at least 100 slots per member (Maglev's balance needs far more slots than members). */
export function maglevSizeFor(members: number): number {
  return members <= 600 ? 65537 : members <= 6000 ? 655373 : 1000003;
}

function membersOf(n: number): RingMember[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`,
    weight: 1,
  }));
}

let sink = 0;

function lookupRate(t: HashTable, hashes: Uint32Array, repeats: number): number {
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    let acc = 0;
    for (let i = 0; i < hashes.length; i++) acc += t.lookup(hashes[i]);
    rates.push(hashes.length / ((performance.now() - t0) / 1000));
    sink += acc;
  }
  return median(rates);
}

export function measureTables(sizes: readonly number[], seed: number): TableFigure[] {
  const hashes = randomKeyHashes(seed, 500_000);
  const out: TableFigure[] = [];
  for (const algorithm of ["ring", "maglev"] as const) {
    for (const n of sizes) {
      const members = membersOf(n);
      const tableSize = algorithm === "maglev" ? maglevSizeFor(n) : undefined;
      const build = () =>
        algorithm === "ring" ? buildRingHash(members) : buildMaglev(members, { tableSize });
      build(); // warm-up
      const times: number[] = [];
      let table: HashTable = build();
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        table = build();
        times.push(performance.now() - t0);
      }
      lookupRate(table, hashes, 2); // warm-up
      out.push({
        algorithm,
        members: n,
        tableSize,
        buildMs: median(times),
        lookupsPerSec: lookupRate(table, hashes, 5),
      });
    }
  }
  if (sink === 0.5) console.log(sink);
  return out;
}
