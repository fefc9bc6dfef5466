// The one seeded PRNG every test draws from, and the one place a test's seed comes from.
//
// TEST_SEED (a decimal integer in [0, 2^32 - 1]) overrides the seed of every test file that takes
// its seed from testSeed(); unset, each file uses its own documented default (the `fallback`
// it passes, different per file so files draw different numbers). TEST_SEED set but not such an
// integer (empty, "abc", negative, fractional, too large) stops the file at import with a clear
// error: it never silently becomes 0 (Number("") is 0). E2E_SEED is the older name and is read
// the same way when TEST_SEED is unset. Failure messages carry seedNote(seed): `seed=<n>` and the
// command that re-runs the file with it. `node dist/test/support/seed-sweep.js` runs the seeded
// files under many seeds (README "Testing").

import { relative } from "node:path";

export { seededRandom } from "../../ring/random.js";

const MAX_SEED = 0xffff_ffff;

/** A seed from the environment: undefined when unset, else a checked integer (throws otherwise). */
export function parseSeed(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!/^\d+$/.test(text) || Number(text) > MAX_SEED)
    throw new Error(
      `${name} must be a decimal integer from 0 to ${MAX_SEED} (unset it for each file's default seed), got ${JSON.stringify(raw)}`,
    );
  return Number(text);
}

/** The seed set from outside (TEST_SEED, else the older E2E_SEED), or undefined. Checked at import. */
export const SEED_OVERRIDE: number | undefined =
  parseSeed("TEST_SEED", process.env.TEST_SEED) ?? parseSeed("E2E_SEED", process.env.E2E_SEED);

/**
 * The seed for a test file: TEST_SEED when set (to replay a failure or try another), else
 * `fallback`. A file that took a seed and exits failing prints seedNote for it on stderr, so
 * even an assertion whose message lacks the seed (or a crash) says how to replay the run.
 */
export function testSeed(fallback: number): number {
  const seed = chosenSeed(fallback);
  if (drawn.size === 0) process.once("exit", printSeedsOnFailure);
  drawn.add(seed);
  return seed;
}

function chosenSeed(fallback: number): number {
  if (!Number.isInteger(fallback) || fallback < 0 || fallback > MAX_SEED)
    throw new Error(`a test's default seed must be an integer from 0 to ${MAX_SEED}, got ${fallback}`);
  return SEED_OVERRIDE ?? fallback;
}

const drawn = new Set<number>();

function printSeedsOnFailure(code: number): void {
  if (code === 0 && (process.exitCode ?? 0) === 0) return;
  for (const seed of drawn) process.stderr.write(`# this file failed with ${seedNote(seed)}\n`);
}

/** The running test file, as the path a re-run command takes (relative to the working directory). */
const TEST_FILE = ((main: string | undefined) =>
  main === undefined ? "dist/test/<file>.js" : relative(process.cwd(), main) || main)(process.argv[1]);

/** `seed=<n> (re-run: TEST_SEED=<n> node --test <this file>)`: the tail of a seeded test's failure message. */
export function seedNote(seed: number): string {
  return `seed=${seed} (re-run: TEST_SEED=${seed} node --test ${TEST_FILE})`;
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

/**
 * The Raft I/O tests' seed: TEST_SEED when set (to replay a failure), else their default. Chosen
 * at import without the exit note (every importer would print it); those tests print it in
 * their messages.
 */
export const SEED = chosenSeed(20_261_205);
