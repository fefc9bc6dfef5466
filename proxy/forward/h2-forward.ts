// The data plane's entry to HTTP/2 upstreams (`pools.P.protocol: h2c | h2`): picks the
// member's session and starts one H2Attempt on it, with the gRPC deadline of the call.

import type { ServerResponse } from "node:http";
import type { PoolSettings } from "../../config/state/types.js";
import type { SnapshotMember } from "../routing/types.js";
import { isGrpcContentType, parseGrpcTimeout } from "./grpc-status.js";
import { H2Attempt, type H2Host, type H2Resender } from "./h2-attempt.js";
import { DEFAULT_MAX_SESSIONS, H2Sessions, type UpstreamProtocol } from "./h2-sessions.js";
import type { RequestContext } from "./request-context.js";

/** The pool's sessions per member address (`http2.maxSessions`). */
function maxSessionsOf(settings: PoolSettings | undefined): number {
  return settings?.http2?.maxSessions ?? DEFAULT_MAX_SESSIONS;
}

/** The pool's upstream protocol when it is HTTP/2, else null (http1, or a state without the field). */
export function h2ProtocolOf(settings: PoolSettings): UpstreamProtocol | null {
  const p = (settings as { protocol?: string }).protocol;
  return p === "h2c" || p === "h2" ? p : null;
}

export class H2Forwarder implements H2Resender {
  readonly sessions: H2Sessions;

  constructor(
    idleMs: number,
    private readonly now: () => number,
    private readonly onResDrain: (this: ServerResponse) => void,
  ) {
    this.sessions = new H2Sessions({ idleMs }, now);
  }

  dispatch(host: H2Host, ctx: RequestContext, member: SnapshotMember, protocol: UpstreamProtocol): void {
    const res = ctx.res as ServerResponse;
    if (ctx.undici === null) res.on("drain", this.onResDrain);
    const attempt = new H2Attempt(host, ctx);
    ctx.undici = attempt;
    const settings = ctx.snapshot?.settings;
    const connectMs = settings?.timeouts.connect ?? 1000;
    const session = this.sessions.get(member, protocol, connectMs, maxSessionsOf(settings));
    if (session instanceof Error) {
      attempt.failSoon(session);
      return;
    }
    let deadlineAt = -1;
    if (isGrpcContentType(ctx.req.headers["content-type"])) {
      const ms = parseGrpcTimeout(ctx.req.headers["grpc-timeout"]);
      if (ms >= 0) deadlineAt = ctx.startedAt + ms;
    }
    attempt.member = member;
    attempt.protocol = protocol;
    attempt.deadlineAt = deadlineAt;
    attempt.start(
      session,
      this,
      protocol === "h2" ? "https" : "http",
      member.hostPort,
      deadlineAt,
      this.now(),
    );
  }

  /** H2Resender: the member refused the stream unprocessed; one more try on its current (new) session. */
  again(old: H2Attempt): boolean {
    const ctx = old.ctx;
    const member = old.member;
    if (ctx.done || ctx.undici !== old || member === null) return false;
    const settings = ctx.snapshot?.settings;
    const connectMs = settings?.timeouts.connect ?? 1000;
    const session = this.sessions.get(member, old.protocol, connectMs, maxSessionsOf(settings));
    if (session instanceof Error) return false;
    const attempt = new H2Attempt(old.host, ctx);
    ctx.undici = attempt;
    const scheme = old.protocol === "h2" ? "https" : "http";
    attempt.start(session, null, scheme, member.hostPort, old.deadlineAt, this.now());
    return true;
  }
}
