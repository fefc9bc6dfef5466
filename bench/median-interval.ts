// A confidence interval for the median of a few noisy ratios, from order statistics alone: no
// assumption about the noise's shape and no random resampling (so nothing to seed). Of n
// independent draws, the k-th smallest and the k-th largest bracket the true median unless at
// most k-1 draws fall on one side of it, which happens with probability 2 P(Binomial(n, 1/2) <=
// k-1). The bench's rounds give 4-12 pair ratios: too few for a bootstrap to be honest, enough
// for this (n = 8: the 2nd smallest to the 2nd largest cover the median with 93 % confidence).

export interface MedianInterval {
  readonly lo: number;
  readonly hi: number;
  /** The probability the interval covers the true median; 0 when n is too small for any interval. */
  readonly coverage: number;
}

/** P(Binomial(n, 1/2) <= k), exactly for the small n the benches have. */
function binomialHalfCdf(n: number, k: number): number {
  let term = 0.5 ** n;
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term = (term * (n - i + 1)) / i;
    sum += term;
  }
  return sum;
}

/**
 * The narrowest order-statistic interval [x(k), x(n+1-k)] whose coverage is at least `confidence`;
 * when even the full range [min, max] covers less, that range with its (lower) coverage.
 */
export function medianInterval(xs: readonly number[], confidence = 0.9): MedianInterval {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { lo: Number.NaN, hi: Number.NaN, coverage: 0 };
  let k = 1;
  while (2 * (k + 1) <= n && 1 - 2 * binomialHalfCdf(n, k) >= confidence) k++;
  return { lo: s[k - 1], hi: s[n - k], coverage: n < 2 ? 0 : 1 - 2 * binomialHalfCdf(n, k - 1) };
}
