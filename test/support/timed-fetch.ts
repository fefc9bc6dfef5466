// One request through shardgate, timed, whose failure is a value: tests that bound how long a
// broken member may hold a request compare the status and the time it took, and a fetch that
// threw (its own timeout) is reported as its error text rather than failing the test early.

/** Status (or the error text when fetch threw) and milliseconds to the end of the body. */
export interface TimedAnswer {
  status: number | string;
  ms: number;
}

export async function timedFetch(url: string, init: RequestInit): Promise<TimedAnswer> {
  const t0 = performance.now();
  try {
    const r = await fetch(url, init);
    await r.text();
    return { status: r.status, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { status: String(err), ms: Math.round(performance.now() - t0) };
  }
}
