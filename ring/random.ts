// Seeded randomness: reproducible key sets from a printed seed for simulations and benchmarks
// (ring simulate, bench/ring-bench), the jitter in health/, and every test (via
// test/support/prng.ts). Not for anything security-related.

import { hashKey } from "./hash.js";

/** mulberry32: a small, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";

function randomKey(rnd: () => number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += ALPHABET[(rnd() * 64) | 0];
  return s;
}

/** `count` random keys of `length` characters from a 64-character URL-safe alphabet. */
export function randomKeys(seed: number, count: number, length = 16): string[] {
  const rnd = seededRandom(seed);
  const out = new Array<string>(count);
  for (let k = 0; k < count; k++) out[k] = randomKey(rnd, length);
  return out;
}

/**
 * Hashes (hashKey, seed 0) of `count` random keys, without keeping the strings: the same
 * keys as randomKeys(seed, count, length), so a simulation can use millions of them.
 */
export function randomKeyHashes(seed: number, count: number, length = 16): Uint32Array {
  const rnd = seededRandom(seed);
  const out = new Uint32Array(count);
  for (let k = 0; k < count; k++) out[k] = hashKey(randomKey(rnd, length), 0);
  return out;
}
