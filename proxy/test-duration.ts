// Bounds a test may shorten. A few of shardgate's bounds are long on purpose (nginx's 30 s
// lingering close, a warning logged at most once per 10 s, ctl's 10 s wait for a silent keys
// pipe), and a test of what happens at such a bound would otherwise wait it out in full.
//
// SHARDGATE_TEST_<NAME> (e.g. SHARDGATE_TEST_LINGERING_TIME_MS), read once when the module that
// owns the bound loads, replaces it in that process. It is for tests only: it is not a config
// field nor documented for operators, and it can only shorten a bound, never lengthen it, so an
// operator who finds it cannot make shardgate hold connections or stay quiet for longer than
// the defaults. A value that is not a whole number of milliseconds from 1 to the default is
// refused with a line on stderr and the default is kept (a typo must not stop the process).

/** The prefix of every such variable. */
export const TEST_DURATION_PREFIX = "SHARDGATE_TEST_";

/** The refusal of a value, or the value in effect: `fallback` unless the variable shortens it. */
export interface TestDuration {
  ms: number;
  /** Why the variable was ignored (undefined: unset or used). */
  refused?: string;
}

/** Reads SHARDGATE_TEST_`name` from `env` against the default `fallback` (ms). */
export function readTestDuration(name: string, fallback: number, env: NodeJS.ProcessEnv): TestDuration {
  const variable = TEST_DURATION_PREFIX + name;
  const raw = env[variable];
  if (raw === undefined || raw === "") return { ms: fallback };
  const ms = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (Number.isInteger(ms) && ms >= 1 && ms <= fallback) return { ms };
  return {
    ms: fallback,
    refused: `${variable}=${JSON.stringify(raw.slice(0, 40))} ignored: expected whole milliseconds from 1 to ${fallback} (tests only: it can shorten this bound, not lengthen it); using ${fallback}`,
  };
}

/** The bound `name` in effect for this process (see above); a refused value is said on stderr. */
export function testDurationMs(name: string, fallback: number): number {
  const d = readTestDuration(name, fallback, process.env);
  if (d.refused !== undefined) process.stderr.write(`shardgate: ${d.refused}\n`);
  return d.ms;
}
