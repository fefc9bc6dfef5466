// Table rows of the scale bench, in process: build time and lookups per second of ring hash
// and Maglev at a small and a large member count, measured back to back in one run. Lookups
// go through lookup(hash) over pre-hashed keys, so the table's own cost (and its cache
// footprint) is what is compared. Times are this process's CPU time (process.cpuUsage), not
// wall time, so a loaded machine's descheduling does not count (its cache pollution still
// does: compare ratios within one run). Beside them, on the same keys: hashKey + lookup per
// 16-character key (what a request pays), and for a ring, one random 4-byte read per hash
// from an array as long as its points (the memory floor: a ring lookup reads at least one
// entry of that many). Also: one member joining a pool, as the committed path applies it
// (updatePoolSnapshot) beside a fresh build of the same pool.

import { configSchema } from "../../config/file/schema.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput } from "../../proxy/routing/types.js";
import { hashKey } from "../../ring/hash.js";
import { buildMaglev } from "../../ring/maglev.js";
import { randomKeyHashes, randomKeys } from "../../ring/random.js";
import { buildRingHash, RingHash } from "../../ring/ring-hash.js";
import type { HashTable, RingMember } from "../../ring/types.js";
import { median } from "./processes.js";

export interface TableFigure {
  readonly algorithm: "ring" | "maglev";
  readonly members: number;
  readonly tableSize?: number;
  readonly buildMs: number;
  /** lookup(hash) over pre-hashed keys. */
  readonly lookupsPerSec: number;
  /** lookup(hashKey(key)) over 16-character keys. */
  readonly keyLookupsPerSec: number;
  /** Ring only: one random read per hash from an array of the ring's point count. */
  readonly floorReadsPerSec?: number;
  /** Ring only: bytes of the ring's lookup arrays (packed entries and bucket index). */
  readonly lookupBytes?: number;
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

/** This process's CPU ms (user + system) since `from` (a process.cpuUsage() reading). */
function cpuMsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

function lookupRate(t: HashTable, hashes: Uint32Array, repeats: number): number {
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    let acc = 0;
    for (let i = 0; i < hashes.length; i++) acc += t.lookup(hashes[i]);
    rates.push(hashes.length / (Math.max(0.001, cpuMsSince(c0)) / 1000));
    sink += acc;
  }
  return median(rates);
}

function keyLookupRate(t: HashTable, keys: readonly string[], repeats: number): number {
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    let acc = 0;
    for (let i = 0; i < keys.length; i++) acc += t.lookup(hashKey(keys[i]));
    rates.push(keys.length / (Math.max(0.001, cpuMsSince(c0)) / 1000));
    sink += acc;
  }
  return median(rates);
}

/** One read per hash at a uniformly spread index of `entries` (a multiply, no division). */
function readRate(entries: Uint32Array, hashes: Uint32Array, repeats: number): number {
  const scale = entries.length / 2 ** 32;
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    let acc = 0;
    for (let i = 0; i < hashes.length; i++) acc += entries[Math.floor(hashes[i] * scale)];
    rates.push(hashes.length / (Math.max(0.001, cpuMsSince(c0)) / 1000));
    sink += acc;
  }
  return median(rates);
}

export function measureTables(sizes: readonly number[], seed: number): TableFigure[] {
  const hashes = randomKeyHashes(seed, 500_000);
  const keys = randomKeys(seed + 1, 200_000, 16);
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
        const c0 = process.cpuUsage();
        table = build();
        times.push(cpuMsSince(c0));
      }
      lookupRate(table, hashes, 2); // warm-up
      keyLookupRate(table, keys, 1);
      const lookupsPerSec = lookupRate(table, hashes, 5);
      const keyLookupsPerSec = keyLookupRate(table, keys, 5);
      let floor: Pick<TableFigure, "floorReadsPerSec" | "lookupBytes"> = {};
      if (table instanceof RingHash) {
        // A copy, so the read does not find the ring's own arrays warm from its lookups.
        const entries = table.owners.slice();
        readRate(entries, hashes, 2); // warm-up
        floor = {
          floorReadsPerSec: readRate(entries, hashes, 5),
          lookupBytes: table.points.length * 4 + 65537 * 4,
        };
      }
      out.push({
        algorithm,
        members: n,
        tableSize,
        buildMs: median(times),
        lookupsPerSec,
        keyLookupsPerSec,
        ...floor,
      });
    }
  }
  if (sink === 0.5) console.log(sink);
  return out;
}

export interface JoinFigure {
  readonly algorithm: "ring" | "maglev";
  /** Members before the join. */
  readonly members: number;
  /** CPU ms of updatePoolSnapshot from the previous snapshot (the committed path). */
  readonly updateMs: number;
  /** CPU ms of a fresh buildPoolSnapshot of the same pool. */
  readonly freshMs: number;
}

/**
 * One member joining a pool of each size: a ring keeps the points of the members that stay
 * and merges the newcomer's; a Maglev table is rebuilt (its fill interleaves every member's
 * turns, so no update can equal a fresh build slot for slot). Medians of `repeats`.
 */
export function measureJoin(sizes: readonly number[], repeats: number): JoinFigure[] {
  const out: JoinFigure[] = [];
  for (const algorithm of ["ring", "maglev"] as const) {
    for (const n of sizes) {
      const tableSize = algorithm === "maglev" ? maglevSizeFor(n + 1) : undefined;
      const settings = configSchema.parse({
        pools: { p: { algorithm, ...(tableSize === undefined ? {} : { tableSize }), members: [] } },
        routes: [{ pool: "p", key: ["ip"] }],
      }).pools.p;
      const inputs = (count: number): MemberInput[] =>
        membersOf(count).map((m, i) => ({
          ...m,
          address: { host: "127.0.0.1", port: 10_000 + (i % 50_000) },
        }));
      const before = { name: "p", settings, members: inputs(n), ringVersion: 1 };
      const after = { name: "p", settings, members: inputs(n + 1), ringVersion: 2 };
      const update: number[] = [];
      const fresh: number[] = [];
      // updatePoolSnapshot never changes `prev`: one previous snapshot serves every repeat.
      const prev = buildPoolSnapshot(before);
      for (let r = 0; r <= repeats; r++) {
        let c0 = process.cpuUsage();
        const inc = updatePoolSnapshot(prev, after);
        const u = cpuMsSince(c0);
        c0 = process.cpuUsage();
        const f = buildPoolSnapshot(after);
        const b = cpuMsSince(c0);
        if (inc.table.lookup(12345) !== f.table.lookup(12345))
          throw new Error("update and fresh build disagree");
        if (r === 0) continue; // warm-up
        update.push(u);
        fresh.push(b);
      }
      out.push({ algorithm, members: n, updateMs: median(update), freshMs: median(fresh) });
    }
  }
  return out;
}
