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
