// Node's undocumented HTTP server internals the listener leans on: Socket#destroySoon and
// IncomingMessage#_dump (linger-close.ts), the socket's _httpMessage, _paused and parser
// (pipeline-order.ts). None is in @types/node or promised by Node's docs, so each use checks it
// is there (typeof) and otherwise falls back to documented API that is safe if less precise;
// the first fallback of each kind is logged once at debug (it means a Node upgrade renamed
// something, and a behaviour described in README lost some precision), never per request.

import type { LogSink } from "../../config/log-sink.js";

let log: LogSink | null = null;
const missing = new Set<string>();

/** The logger the once-per-kind notes go to (the listener passes its own). */
export function useInternalsLogger(logger: LogSink): void {
  log = logger;
}

/** Notes (once per `name`) that Node lacks the internal `name` and `fallback` is used instead. */
export function internalMissing(name: string, fallback: string): void {
  if (missing.has(name)) return;
  missing.add(name);
  log?.debug({ internal: name, fallback }, "a Node internal is missing: using the documented fallback");
}

/** The internals found missing so far in this process (tests read it). */
export function missingInternals(): readonly string[] {
  return [...missing];
}

/**
 * The answer Node's HTTP/1.1 server is writing on `socket` (`_httpMessage`), null when none,
 * or on a Node without the field. Not noted as missing: Node sets the field only once a first
 * request is emitted, so a timeout inside a connection's first head sees it absent on every Node.
 */
export function httpMessageOf(socket: unknown): unknown {
  if (socket === null || typeof socket !== "object") return null;
  return (socket as { _httpMessage?: unknown })._httpMessage ?? null;
}
