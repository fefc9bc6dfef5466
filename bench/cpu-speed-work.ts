// The CPU-speed probe's workload (cpu-speed.ts): a fixed, deterministic, CPU-bound loop of a
// few milliseconds. Integer hashing mixed with reads from a 256 KB table, so that it depends
// on the core's clock, its pipeline (which a busy sibling hyperthread of the host shares) and
// its caches alike, like a proxy's own work, while allocating nothing (no GC in the timing).

/** Iterations of one workload: about 2 ms on the 2.1 GHz Xeon of the machine it was written on. */
export const WORK_ITERATIONS = 160_000;

const TABLE_MASK = (1 << 16) - 1;
const table = new Int32Array(TABLE_MASK + 1);
for (let i = 0; i <= TABLE_MASK; i++) table[i] = Math.imul(i + 1, 0x9e3779b1) ^ (i << 7);

/** Runs the workload once; the result depends on every step, so no step can be skipped. */
export function work(iterations: number, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < iterations; i++) {
    h = Math.imul(h ^ table[(h >>> 7) & TABLE_MASK], 0x85ebca6b) + i;
    h ^= h >>> 13;
  }
  return h;
}
