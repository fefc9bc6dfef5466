// One JSON line per finished request, through a pino child logger bound once (so the bindings
// are serialized once, not per line). Logs the key's hash, never the key: and because a key
// may come from the query string (query:NAME), the path is logged without its query.

import type { Logger } from "pino";
import type { RequestRecord } from "../forward/types.js";

export interface AccessLog {
  write(r: RequestRecord): void;
}

function pathOnly(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** Rounds to microseconds: sub-µs digits are noise and cost bytes on every line. */
function ms(x: number): number {
  return Math.round(x * 1000) / 1000;
}

class PinoAccessLog implements AccessLog {
  private readonly log: Logger;

  constructor(logger: Logger) {
    // Its own level: `log.accessLog: true` means access lines even when log.level is warn.
    this.log = logger.child({ type: "access" }, { level: "info" });
  }

  write(r: RequestRecord): void {
    // Fixed shape and key order: every line has every field, so log pipelines see one schema.
    this.log.info(
      {
        method: r.method,
        path: pathOnly(r.path),
        status: r.status,
        route: r.route,
        pool: r.pool,
        member: r.member,
        durationMs: ms(r.durationMs),
        requestId: r.requestId,
        keyHash: r.keyHash < 0 ? null : r.keyHash,
        attempts: r.attempts,
        ringVersion: r.ringVersion,
        error: r.errorCode === "" ? null : r.errorCode,
        upgrade: r.upgrade,
      },
      "request",
    );
  }
}

const DISABLED: AccessLog = { write() {} };

/** The access log writing through `logger` at info level, or a no-op when disabled in config. */
export function createAccessLog(logger: Logger, enabled: boolean): AccessLog {
  return enabled ? new PinoAccessLog(logger) : DISABLED;
}
