// Command-line options of the benchmarks: `--name N` for the counts and durations they take.

/** The positive integer after `name` in `argv`, or `dflt` when `name` is absent; throws on anything else. */
export function positiveIntArg(argv: readonly string[], name: string, dflt: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} needs a positive integer, got ${argv[i + 1]}`);
  return v;
}

/** The number >= 0 after `name` in `argv`, or `dflt` when `name` is absent; throws on anything else. */
export function numberArg(argv: readonly string[], name: string, dflt: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (argv[i + 1] === undefined || !Number.isFinite(v) || v < 0)
    throw new Error(`${name} needs a number >= 0, got ${argv[i + 1]}`);
  return v;
}
