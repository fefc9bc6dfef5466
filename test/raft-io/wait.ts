// Bounded polling for tests: resolves when `cond` holds, rejects with `what` after `timeoutMs`.
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
  stepMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
