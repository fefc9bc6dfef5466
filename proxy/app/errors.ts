// Error values the app hands back: a thrown thing's message, a config failure found after the
// schema (TLS files, cluster settings, an unbuildable pool), and a failed cluster proposal as
// an admin error with a stable code.

import type { ConfigError } from "../../config/config-error.js";
import type { AdminError } from "../admin/types.js";
import { CommandRejected } from "../cluster/cluster-node.js";

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One config error at `path` (something the schema cannot see), with its one-line text. */
export function configError(path: string, message: string): ConfigError {
  return { path, expected: "a valid setting", found: message, message };
}

/** Maps a failed proposal to an admin error: 404 for unknown pools/members, 503 without quorum. */
export function proposalError(err: unknown): AdminError {
  const message = errorText(err);
  if (err instanceof CommandRejected || (err as { code?: string })?.code?.startsWith("HEALTH_UNKNOWN")) {
    const unknown = /unknown pool|has no member|no pool named|breaker disabled/.exec(message);
    if (unknown !== null) {
      const error = /has no member/.test(message)
        ? "unknown_member"
        : /breaker disabled/.test(message)
          ? "breaker_disabled"
          : "unknown_pool";
      return { status: error === "breaker_disabled" ? 409 : 404, error, message };
    }
    return { status: 400, error: "rejected", message };
  }
  if ((err as { code?: string })?.code === "OVERLOADED") {
    return {
      status: 503,
      error: "overloaded",
      message: `too much waiting to commit: ${message}`,
      retryAfterS: 1,
    };
  }
  return {
    status: 503,
    retryAfterS: 1,
    error: "not_committed",
    message: `the change could not be committed (no quorum or leader change); retry: ${message}`,
  };
}
