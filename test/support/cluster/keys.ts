// Seeded key lists for the fleet tests and bench: distinct, printable keys drawn from a
// seeded PRNG, so a run replays from the seed its messages print.

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
