// Exponential backoff with "equal jitter" for retrying a failing dependency (Consul down):
// the delay grows base * 2^attempt up to max, and half of it is randomised from a seeded
// PRNG so a fleet of instances does not retry in lockstep.

export interface BackoffOptions {
  /** First delay in ms (> 0). */
  baseMs: number;
  /** Cap in ms (>= baseMs). */
  maxMs: number;
}

/** Delay before retry number `attempt` (1 = first retry); `random` yields [0, 1). */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  const half = exp / 2;
  return Math.round(half + random() * half);
}
