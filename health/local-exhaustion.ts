// Errors that say this instance ran out of its own resources, not that a member failed: no
// descriptor left for a socket (EMFILE: the process's limit, ENFILE: the system's), or no
// local port or address left to connect from (EADDRNOTAVAIL). A member's breaker, outlier
// figures and health must never count them: the fleet would apply one instance's shortage
// everywhere. Callers answer or log them as the instance's own limit instead.

/** The errno codes of a local shortage, as Node's socket and file errors carry them. */
export const LOCAL_EXHAUSTION_CODES: ReadonlySet<string> = new Set(["EMFILE", "ENFILE", "EADDRNOTAVAIL"]);

/** The error's local-shortage code (looking through one `cause`), or null for any other error. */
export function localExhaustionCode(err: unknown): string | null {
  if (typeof err !== "object" || err === null) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && LOCAL_EXHAUSTION_CODES.has(code)) return code;
  const cause = (err as { cause?: unknown }).cause;
  if (typeof cause !== "object" || cause === null) return null;
  const inner = (cause as { code?: unknown }).code;
  return typeof inner === "string" && LOCAL_EXHAUSTION_CODES.has(inner) ? inner : null;
}
