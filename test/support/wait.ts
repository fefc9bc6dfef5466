// Bounded polling for tests: every wait has a deadline and names what it waited for.

/**
 * Default deadlines of the harness's waits for a process to start and for a condition to
 * hold. CI runs two test files at a time on 2 shared cores, where a shardgate process has been
 * seen to take over 20 s to print "listening": waits end as soon as their condition holds, so
 * a generous deadline costs nothing when the machine is fast and only bounds a real hang.
 */
export const START_DEADLINE_MS = 90_000;
export const CONDITION_DEADLINE_MS = 45_000;

/**
 * Polls `probe` every `everyMs` until it returns a value other than undefined; bounded by
 * `timeoutMs`. A probe that throws counts as "not yet"; the last error is in the timeout message.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const cause = last === undefined ? "" : ` (last error: ${String(last)})`;
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Polls `cond` every `everyMs` until it holds (true) or `timeoutMs` passes (false): for tests
 * that assert on the answer themselves. `waitFor` is the throwing form.
 */
export async function eventuallyTrue(cond: () => boolean, timeoutMs = 2000, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `cond` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
  everyMs = 5,
): Promise<void> {
  if (!(await eventuallyTrue(cond, timeoutMs, everyMs)))
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
