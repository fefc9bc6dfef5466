// Bounded polling for tests: every wait has a deadline and names what it waited for.

/**
 * The one factor every test deadline is multiplied by: TEST_TIME_SCALE (default 1). A deadline
 * here bounds a wait for a condition (a process up, a state reached); it is not a performance
 * claim, so a slower machine may raise it (`TEST_TIME_SCALE=3 npm test`) without weakening any
 * assertion. Every wait helper below and in shardgate-process.ts applies it to the deadline it
 * is given; a test that keeps its own deadline loop takes it through `scaled(ms)`.
 */
export const TIME_SCALE = timeScale(process.env.TEST_TIME_SCALE);

function timeScale(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 1) throw new Error(`TEST_TIME_SCALE must be a number >= 1, got ${raw}`);
  return n;
}

/** `ms` times TEST_TIME_SCALE: the deadline of a wait on this machine. */
export function scaled(ms: number): number {
  return Math.ceil(ms * TIME_SCALE);
}

/**
 * Default deadlines of the harness's waits for a process to start and for a condition to
 * hold. CI runs two test files at a time on 2 shared cores, where a shardgate process has been
 * seen to take over 20 s to print "listening": waits end as soon as their condition holds, so
 * a generous deadline costs nothing when the machine is fast and only bounds a real hang.
 * Like every deadline a test passes, they are base values: the helper that waits scales them.
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
  const budget = scaled(timeoutMs);
  const deadline = Date.now() + budget;
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
      throw new Error(`timed out after ${budget}ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Polls `cond` every `everyMs` until it holds (true) or `timeoutMs` passes (false): for tests
 * that assert on the answer themselves. `waitFor` is the throwing form.
 */
export async function eventuallyTrue(cond: () => boolean, timeoutMs = 2000, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + scaled(timeoutMs);
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
    throw new Error(`timed out after ${scaled(timeoutMs)} ms waiting for ${what}`);
}
