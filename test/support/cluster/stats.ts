// Small summaries for the fleet measurements (printed, never asserted against wall-clock targets).

export interface Summary {
  n: number;
  medianMs: number;
  maxMs: number;
  minMs: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, medianMs: Number.NaN, maxMs: Number.NaN, minMs: Number.NaN };
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, medianMs: round(median), maxMs: round(s[s.length - 1]), minMs: round(s[0]) };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

export function formatSummary(name: string, s: Summary): string {
  return `${name}: median ${s.medianMs} ms, max ${s.maxMs} ms, min ${s.minMs} ms (n=${s.n})`;
}
