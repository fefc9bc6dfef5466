// The one error family of shardgate's rooms above Raft: every error a caller may branch on
// carries a stable string `code` (fastify's FST_ERR_* idea). Callers branch on the code, never
// on the message; the admin layer picks an HTTP status from a table keyed by code
// (proxy/app/errors.ts). config/raft imports nothing of ours, so its RaftError/DriverError
// carry a `code` of the same shape without extending this class: `codeOf` reads either.

/** Codes a committed command can be rejected with by the replicated state (config/state). */
export const STATE_ERROR_CODES = [
  /** The command names a pool the committed state does not have. */
  "unknown_pool",
  /** The command names a member the pool does not have. */
  "unknown_member",
  /** Discovered members for a pool without that discovery source. */
  "no_discovery",
  /** A member id already held by a member of another source. */
  "member_source_conflict",
  /** The pool would exceed a table limit (members, ring size). */
  "table_limit",
  /** Pool settings the schema rejects. */
  "invalid_settings",
  /** Bytes that do not decode to a valid command. */
  "invalid_command",
  /** An index at or below the applied one (a replay): ignored. */
  "stale_index",
  /** A PatchRouting computed against another routing than the committed one (a reload raced it). */
  "routing_changed",
  /** A bug while applying: the state is untouched. */
  "internal",
] as const;

export type StateErrorCode = (typeof STATE_ERROR_CODES)[number];

export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The message of anything thrown (the one definition; logs and error bodies use it). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The stable code of a thrown value: ours, Raft's or Node's (`ECONNREFUSED` ...), if it has one. */
export function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The message with its code appended when the message does not already name it (Node's
 * `ECONNREFUSED` ...), for a watcher's `lastError`; `firstLine` keeps only the first line
 * (the Kubernetes client puts whole response bodies in its messages).
 */
export function errorWithCode(err: unknown, firstLine = false): string {
  if (!(err instanceof Error)) return String(err);
  const message = firstLine ? err.message.split("\n")[0] : err.message;
  const code = codeOf(err);
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
}
