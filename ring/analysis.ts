// Distribution and movement analysis of hash tables over a set of key hashes: what
// `shardgate ring simulate` and the benchmarks report. Pure; allocation is per analysis.

import type { BoundedLoad } from "./bounded-load.js";
import type { HashTable, RingMember } from "./types.js";

export interface LoadStats {
  readonly min: number;
  readonly mean: number;
  readonly max: number;
  /** Population standard deviation. */
  readonly stddev: number;
  /** max / mean (1.0 is perfect balance); 0 when there is no load. */
  readonly maxOverMean: number;
}

/** Summary statistics of per-member loads. */
export function loadStats(loads: ArrayLike<number>): LoadStats {
  const n = loads.length;
  if (n === 0) return { min: 0, mean: 0, max: 0, stddev: 0, maxOverMean: 0 };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = loads[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (loads[i] - mean) ** 2;
  return { min, mean, max, stddev: Math.sqrt(sq / n), maxOverMean: mean === 0 ? 0 : max / mean };
}

/** Owner index of every key hash (-1 when the table is empty). */
export function ownersOf(table: HashTable, hashes: Uint32Array): Int32Array {
  const out = new Int32Array(hashes.length);
  for (let i = 0; i < hashes.length; i++) out[i] = table.lookup(hashes[i]);
  return out;
}

/** Number of keys each member owns, indexed like `table.members`. */
export function keysPerMember(table: HashTable, hashes: Uint32Array): Int32Array {
  const counts = new Int32Array(table.members.length);
  for (let i = 0; i < hashes.length; i++) {
    const m = table.lookup(hashes[i]);
    if (m >= 0) counts[m]++;
  }
  return counts;
}

/**
 * Bounded-load assignment: keys arrive one by one and each stays in flight, so key i sees
 * the loads of keys 0..i-1. Returns keys per member.
 */
export function boundedLoadPerMember(table: BoundedLoad, hashes: Uint32Array): Int32Array {
  const loads = new Int32Array(table.members.length);
  const all = (): boolean => true;
  for (let i = 0; i < hashes.length; i++) {
    const m = table.pickBounded(hashes[i], all, loads, i);
    if (m >= 0) loads[m]++;
  }
  return loads;
}

/** Fraction of keys whose owner (compared by member id) differs between two tables. */
export function movedFraction(before: HashTable, after: HashTable, hashes: Uint32Array): number {
  if (hashes.length === 0) return 0;
  const afterIndex = new Map<string, number>();
  for (let i = 0; i < after.members.length; i++) afterIndex.set(after.members[i].id, i);
  // before index -> after index of the same id (-1 if the member left)
  const map = new Int32Array(before.members.length);
  for (let i = 0; i < before.members.length; i++) map[i] = afterIndex.get(before.members[i].id) ?? -1;
  let moved = 0;
  for (let i = 0; i < hashes.length; i++) {
    const a = before.lookup(hashes[i]);
    const b = after.lookup(hashes[i]);
    if (a === -1 ? b !== -1 : map[a] !== b) moved++;
  }
  return moved / hashes.length;
}

/**
 * The least fraction of keys any table must move between two memberships: the total
 * variation distance between their weight shares. Adding k equal members to n gives
 * k/(n+k); removing k of n gives k/n.
 */
export function idealMovedFraction(before: readonly RingMember[], after: readonly RingMember[]): number {
  const share = new Map<string, [number, number]>();
  const total = (ms: readonly RingMember[]): number => ms.reduce((s, m) => s + m.weight, 0);
  const tb = total(before);
  const ta = total(after);
  if (tb === 0 || ta === 0) return tb === ta ? 0 : 1;
  for (const m of before) share.set(m.id, [m.weight / tb, 0]);
  for (const m of after) {
    const s = share.get(m.id);
    if (s === undefined) share.set(m.id, [0, m.weight / ta]);
    else s[1] = m.weight / ta;
  }
  let tv = 0;
  for (const [b, a] of share.values()) tv += Math.abs(a - b);
  return tv / 2;
}
