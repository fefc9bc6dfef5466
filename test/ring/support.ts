// Seeded randomness for ring tests: every random key set is reproducible from its seed,
// and every assertion message prints the seed.

import { seededRandom } from "../support/prng.js";

/** `count` random uint32 key hashes. */
export function randomHashes(seed: number, count: number): Uint32Array {
  const rnd = seededRandom(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(rnd() * 4294967296);
  return out;
}
