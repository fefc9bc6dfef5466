// Timing for the micro-benchmarks: the median ns per call over a few passes, after a warm-up.
// Every pass returns a checksum folded into `checksum()`, which the benchmark prints, so the
// work measured cannot be optimised away.

let sink = 0;

export function median(xs: readonly number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** ns per call of `pass` (which makes `n` calls and returns a checksum): median of `repeats`. */
export function nsPerCall(n: number, repeats: number, pass: () => number): number {
  for (let i = 0; i < 3; i++) sink ^= pass();
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    sink ^= pass();
    samples.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(samples);
}

/** The checksums of every pass so far, folded. */
export function checksum(): number {
  return sink;
}
