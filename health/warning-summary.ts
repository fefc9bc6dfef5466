// Discovery warnings (a malformed Consul entry, a Kubernetes endpoint without a pod name, a
// member id that cannot be one) are logged when the set of them changes. One line each was ~50x
// the answer in log bytes for an answer of 1,000 bad entries, at every change of it. A few are
// still logged one a line; more become one summary line (the count and the first few), and
// the full list goes to debug.

import type { LogSink } from "../config/log-sink.js";

/** Up to this many warnings are logged one a line; more are summarised. */
export const WARNINGS_IN_FULL = 3;

/**
 * Logs `warnings` at warn (each one, or a summary naming `what` when there are more than
 * WARNINGS_IN_FULL) and, for a summary, every one at debug. `prefix` starts each single warning's text.
 */
export function logWarnings(
  log: LogSink,
  fields: object,
  what: string,
  warnings: readonly string[],
  prefix = "",
): void {
  if (warnings.length <= WARNINGS_IN_FULL) {
    for (const w of warnings) log.warn(fields, `${prefix}${w}`);
    return;
  }
  const first = warnings.slice(0, WARNINGS_IN_FULL);
  log.warn(
    { ...fields, count: warnings.length, first },
    `${what}: ${warnings.length} (the first ${first.length}: ${first.join("; ")}; all of them at debug level)`,
  );
  for (const w of warnings) log.debug(fields, `${prefix}${w}`);
}
