// Seeded randomness for the fleet tests: a small PRNG (mulberry32) and seeded key lists, so a
// failing run is replayed exactly by setting E2E_SEED to the seed its messages print.

/** mulberry32: 32-bit state, good enough for picking keys and jitter; same seed, same stream. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for a test file: E2E_SEED when set (to replay a failure), else `fallback`. */
export function testSeed(fallback: number): number {
  const raw = process.env.E2E_SEED;
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`E2E_SEED must be a non-negative integer, got ${raw}`);
  return n;
}

/** `n` distinct printable keys drawn from `random` (e.g. "k-3f9a1c2-17"). */
export function randomKeys(random: () => number, n: number, prefix = "k"): string[] {
  const out = new Set<string>();
  while (out.size < n) {
    const a = Math.floor(random() * 0xffffffff).toString(16);
    const b = Math.floor(random() * 1000);
    out.add(`${prefix}-${a}-${b}`);
  }
  return [...out];
}
