// The one seeded PRNG every test draws from, plus the seed plumbing around it. Callers print
// the seed in their assertion messages so a failure replays exactly (E2E_SEED=<seed>).

export { seededRandom } from "../../ring/random.js";

/** The seed for a test file: E2E_SEED when set (to replay a failure), else `fallback`. */
export function testSeed(fallback: number): number {
  const raw = process.env.E2E_SEED;
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`E2E_SEED must be a non-negative integer, got ${raw}`);
  return n;
}

/** One element of `items`, chosen by `random`. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

/** `n` bytes drawn from `random` (payloads for storage and transport tests). */
export function randomBytes(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** The Raft I/O tests' seed: TEST_SEED when set (to replay a failure), else drawn from the clock. */
export const SEED = Number(process.env.TEST_SEED ?? Date.now() % 1_000_000);
