// Per-file fixtures start their processes in the file's `before` hook but hand the file their
// handle at load time; a test (or another hook) that reads one too early gets this error, naming
// what it read, rather than a TypeError on undefined.

/** `v` once its `before` hook set it; throws while it is still undefined. */
export function startedInHook<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is read before the file's before hook started it`);
  return v;
}
