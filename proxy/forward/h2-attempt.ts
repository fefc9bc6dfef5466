// One upstream attempt over HTTP/2 (pools with `protocol: h2c | h2`): a stream on the
// member's session (h2-sessions.ts), the client's body piped into it, the response head
// handed to the data plane through the same host calls as an undici attempt (so retries
// before the first byte, timeouts, breakers, records and headers follow one set of rules),
// the body relayed with backpressure both ways, and trailers passed through (gRPC's status
// lives there). Stream listeners are shared functions finding the attempt through a symbol.
//
// gRPC calls (content-type application/grpc) also carry `te: trailers` upstream and their
// `grpc-timeout`, reduced by the time already spent, as the call's deadline: when it passes
// before the answer, shardgate answers DEADLINE_EXCEEDED (the client's limit: never counted
// against the member); when it passes mid-stream, the upstream stream is cancelled and the
// client gets grpc-status 4 in the trailers. An upstream that resets mid-stream ends a gRPC
// call with UNAVAILABLE trailers rather than a bare stream reset.

import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { type ClientHttp2Session, type ClientHttp2Stream, constants } from "node:http2";
import { ERRORS, type ErrorCode } from "../errors.js";
import type { SnapshotMember } from "../routing/types.js";
import { headerListOver } from "../server/h2-header-list.js";
import { bodyReplayable, forgetBody, recordBody, replayBody } from "./body-replay.js";
import { encodeGrpcMessage, formatGrpcTimeout, GRPC, isGrpcContentType } from "./grpc-status.js";
import { aboveMemberGoaway, H2Error, type UpstreamProtocol } from "./h2-sessions.js";
import { takeSlot } from "./h2-stream-slots.js";
import type { RequestContext } from "./request-context.js";
import type { ForwardAttempt, UndiciHost } from "./undici-attempt.js";

export interface H2Host extends UndiciHost {
  upstreamCut(ctx: RequestContext): void;
  fail(ctx: RequestContext, code: ErrorCode): void;
  /**
   * The member never took the call and did not fail: it stayed queued behind the member's stream
   * limit, or the member refused its stream (REFUSED_STREAM) again. Retry elsewhere or answer
   * upstream_stream_limit; nothing counted against the member.
   */
  unsent(attempt: H2Attempt): void;
}

/** Re-sends an attempt whose stream the member refused unprocessed; false when it cannot. */
export interface H2Resender {
  again(attempt: H2Attempt): boolean;
}

const kAttempt = Symbol("shardgate.h2attempt");
type WithAttempt = { [kAttempt]?: H2Attempt };

/** Headers HTTP/2 forbids (RFC 9113 section 8.2.2); Node refuses to send them. */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "http2-settings",
  "host",
]);

const STREAM_RESET = new H2Error("ECONNRESET", "upstream reset the HTTP/2 stream");
const DEADLINE = new H2Error("EDEADLINE", "gRPC deadline exceeded");
const QUEUE_TIMEOUT = new H2Error("ERESPONSE_TIMEOUT", "upstream response timeout (the stream was queued)");
const REFUSED = new H2Error("ECONNRESET", "upstream refused the HTTP/2 stream unprocessed", true);
/**
 * An answer head whose decoded header list is past UPSTREAM_HEAD_MAX. It carries undici's code
 * for a head past its limit, so the data plane answers it as it answers that one from an
 * HTTP/1.1 member: 502 upstream_bad_response, counted as the member's reset.
 */
const HEAD_TOO_LARGE = new H2Error(
  "UND_ERR_HEADERS_OVERFLOW",
  "upstream HTTP/2 answer head larger than 16384 bytes (decoded header list)",
);

/** A trailer block past the same bound (the body is relayed by then: the answer is cut). */
const TRAILERS_TOO_LARGE = new H2Error(
  "UND_ERR_HEADERS_OVERFLOW",
  "upstream HTTP/2 trailer block larger than 16384 bytes (decoded header list)",
);

/**
 * The decoded header list an answer head (or its trailer block) may have (RFC 9113 section 6.5.2 sizes), undici's
 * limit for an HTTP/1.1 member's head. nghttp2 holds a member to the session's
 * SETTINGS_MAX_HEADER_LIST_SIZE only once the member acknowledges our SETTINGS, and a member
 * that never does could send one 4 KB field named again with one byte per line (HPACK): ~1 MB
 * of head from 4 KB on the wire, relayed to the client whole.
 */
export const UPSTREAM_HEAD_MAX = 16 * 1024;

export class H2Attempt implements ForwardAttempt {
  finished = false;
  private stream: ClientHttp2Stream | null = null;
  /** The stream's session: Node lets go of it when the stream is destroyed. */
  private session: ClientHttp2Session | null = null;
  /** The client gets this attempt's body (false: discarded or abandoned). */
  private relaying = false;
  /** The response head arrived (a stream that ends without one is a failure). */
  private answered = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The response timeout of a stream opened behind the member's stream limit (from its queueing). */
  private queueTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly grpc: boolean;
  /** A gRPC answer carried its grpc-status (trailers-only head, or trailers); else none was seen. */
  private hasStatus = false;
  /** Asked once when the member refused the stream unprocessed (GOAWAY race): re-sent on a new session. */
  private refusedRetry: H2Resender | null = null;
  /** What a re-send needs: the member and protocol, and the call's deadline (-1: none). */
  member: SnapshotMember | null = null;
  protocol: UpstreamProtocol = "h2c";
  deadlineAt = -1;

  constructor(
    readonly host: H2Host,
    readonly ctx: RequestContext,
  ) {
    this.grpc = isGrpcContentType(ctx.req.headers["content-type"]);
  }

  /**
   * Opens the stream. `deadlineAt`: the gRPC deadline on the data plane's clock (-1: none);
   * `now`: that clock's reading.
   */
  start(
    session: ClientHttp2Session,
    onRefused: H2Resender | null,
    scheme: string,
    authority: string,
    deadlineAt: number,
    now: number,
  ): void {
    const ctx = this.ctx;
    if (deadlineAt >= 0 && deadlineAt <= now) {
      process.nextTick(onDeadline, this);
      return;
    }
    this.refusedRetry = onRefused;
    const headers = this.outgoingHeaders(scheme, authority, deadlineAt < 0 ? -1 : deadlineAt - now);
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: !ctx.hasBody });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (
        code === "ERR_HTTP2_INVALID_SESSION" ||
        code === "ERR_HTTP2_GOAWAY_SESSION" ||
        code === "ERR_HTTP2_OUT_OF_STREAMS"
      ) {
        // A session closing under us (GOAWAY just arrived): nothing was sent.
        process.nextTick(failLater, this, err as Error);
      } else {
        // Headers HTTP/2 refuses to carry: the request's fault, never the member's.
        this.finished = true;
        ctx.clientFault = true;
        process.nextTick(refuseRequest, this);
      }
      return;
    }
    this.stream = stream;
    this.session = session;
    (stream as WithAttempt)[kAttempt] = this;
    // Queued behind the member's stream limit: its body waits on us, not on the client, so the
    // response timeout runs from now (h2-stream-slots.ts), on this attempt's own timer, which
    // can tell a call the member never got from one it was slow to answer.
    const queued = takeSlot(session, stream);
    stream.on("response", onStreamResponse);
    stream.on("data", onStreamData);
    stream.on("trailers", onStreamTrailers);
    stream.on("end", onStreamEnd);
    stream.on("error", onStreamError);
    stream.on("close", onStreamClose);
    if (ctx.hasBody) {
      stream.on("finish", onStreamFinish);
      // Every try keeps the body it sends (body-replay.ts); a re-send (a refused stream, or one
      // never sent, on this member or the next) starts with what earlier tries consumed.
      replayBody(ctx.req, stream);
      recordBody(ctx.req, ctx.res);
      ctx.req.pipe(stream);
    } else if (!queued) this.host.undiciSent(this);
    if (queued) {
      const responseMs = ctx.snapshot?.settings.timeouts.response ?? 30_000;
      this.queueTimer = setTimeout(onQueueTimeout, responseMs, this);
    }
    if (deadlineAt >= 0) this.timer = setTimeout(onDeadline, deadlineAt - now, this);
  }

  /** Fails the attempt on the next tick (the session is in reconnect backoff: nothing was sent). */
  failSoon(err: Error): void {
    process.nextTick(failLater, this, err);
  }

  private outgoingHeaders(scheme: string, authority: string, remainingMs: number): OutgoingHttpHeaders {
    const ctx = this.ctx;
    const src = ctx.req.headers;
    const out: OutgoingHttpHeaders = {
      ":method": ctx.method,
      ":path": ctx.req.url ?? "/",
      ":scheme": scheme,
      ":authority": src.host ?? authority,
    };
    for (const name in src) {
      if (CONNECTION_SPECIFIC.has(name)) continue;
      const v = src[name];
      if (v !== undefined) out[name] = v;
    }
    if (this.grpc) {
      out.te = "trailers";
      if (remainingMs >= 0) out["grpc-timeout"] = formatGrpcTimeout(remainingMs);
    }
    return out;
  }

  /** Aborts the attempt (idempotent); the data plane has already decided what the client gets. */
  cancel(_err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.relaying = false;
    this.clearTimer();
    const s = this.stream;
    if (s === null) return;
    if (this.ctx.hasBody) this.ctx.req.unpipe(s);
    if (!s.destroyed) s.close(constants.NGHTTP2_CANCEL);
  }

  /** The client's response drained: read on. */
  resume(): void {
    const s = this.stream;
    if (s !== null && this.relaying && s.isPaused()) s.resume();
  }

  onResponse(headers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined): void {
    if (rawHeaders !== undefined && headerListOver(rawHeaders, UPSTREAM_HEAD_MAX)) {
      // The member's answer, refused: its stream is reset (the session stays: other streams on
      // it are not at fault) and the data plane answers or retries as for a malformed head.
      const s = this.stream;
      this.onFailure(HEAD_TOO_LARGE);
      if (s !== null && !s.destroyed) s.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    this.answered = true;
    if (this.ctx.hasBody) forgetBody(this.ctx.req);
    const status = Number(headers[":status"]);
    delete headers[":status"];
    // Only a 200 must carry grpc-status: a client maps any other HTTP status to a gRPC one itself.
    this.hasStatus = status !== 200 || headers["grpc-status"] !== undefined;
    this.relaying = this.host.objectHead(this, status, headers);
    // A discarded answer (retried elsewhere): on HTTP/2 dropping the stream costs no connection.
    if (!this.relaying) this.cancel(STREAM_RESET);
  }

  onData(chunk: Buffer): void {
    if (!this.relaying) return;
    const res = this.ctx.res as ServerResponse;
    if (res.destroyed) return;
    if (!res.write(chunk)) this.stream?.pause();
  }

  onTrailers(trailers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined): void {
    if (!this.relaying || this.ctx.res === null) return;
    if (rawHeaders !== undefined && headerListOver(rawHeaders, UPSTREAM_HEAD_MAX)) {
      // The same HPACK amplification as a head's, after the body: never relayed; the answer
      // fails mid-stream (cut, or gRPC UNAVAILABLE) and the session stays.
      const s = this.stream;
      this.onFailure(TRAILERS_TOO_LARGE);
      if (s !== null && !s.destroyed) s.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    if (trailers["grpc-status"] !== undefined) this.hasStatus = true;
    const out: Record<string, string | string[]> = {};
    for (const name in trailers) {
      const v = trailers[name];
      if (v !== undefined && name.charCodeAt(0) !== 0x3a) out[name] = v;
    }
    this.ctx.res.addTrailers(out);
  }

  onEnd(): void {
    if (this.finished) return;
    // A session torn down mid-response ends its streams' readable side with a reset code set:
    // that is a cut, not a complete answer.
    const rst = this.stream?.rstCode;
    // Or ended before any response head (RST_STREAM NO_ERROR, a head past the session's header
    // list limit): no answer will come. It waited for the response timeout as upstream_timeout.
    if ((rst !== undefined && rst !== constants.NGHTTP2_NO_ERROR) || !this.answered) {
      this.onFailure(STREAM_RESET);
      return;
    }
    this.finished = true;
    this.clearTimer();
    if (!this.relaying) return;
    const res = this.ctx.res as ServerResponse;
    if (res.writableEnded || res.destroyed) return;
    if (this.grpc && !this.hasStatus) {
      // A gRPC answer (200) ended cleanly with no grpc-status, in its head or trailers: a client
      // would read it as OK with no message, or hang; a gRPC proxy answers INTERNAL, and it is
      // the member's bad response.
      this.host.upstreamCut(this.ctx);
      this.ctx.errorCode = "upstream_no_grpc_status";
      endWithStatus(
        res,
        GRPC.INTERNAL,
        `shardgate upstream_no_grpc_status: ${ERRORS.upstream_no_grpc_status.message}`,
      );
      return;
    }
    res.end();
  }

  /** The stream failed (error, or closed without its end). */
  onFailure(err: Error): void {
    if (this.finished) return;
    // RFC 9113 section 8.7: a stream refused (or cut off by a GOAWAY) was not processed, so it
    // may go again, once, on the member's next session, if its body was kept whole (or not read),
    // then on the next member as a request never sent (any method: REFUSED).
    const unprocessed =
      !this.relaying &&
      !this.answered &&
      isUnprocessed(err, this.stream, this.session) &&
      bodyReplayable(this.ctx.req);
    const retry = this.refusedRetry;
    if (retry !== null && unprocessed) {
      this.refusedRetry = null;
      this.finished = true;
      this.clearTimer();
      if (this.stream !== null) {
        (this.stream as WithAttempt)[kAttempt] = undefined;
        if (this.ctx.hasBody) this.ctx.req.unpipe(this.stream);
      }
      if (retry.again(this)) return;
      this.finished = false;
    }
    this.finished = true;
    this.clearTimer();
    const ctx = this.ctx;
    const res = ctx.res;
    if (this.relaying && this.grpc && res !== null && !res.writableEnded && !res.destroyed) {
      // Mid-stream: the client has its headers; say UNAVAILABLE in the trailers instead of a reset.
      this.relaying = false;
      this.host.upstreamCut(ctx);
      endWithStatus(
        res,
        GRPC.UNAVAILABLE,
        ctx.errorCode === "shutting_down"
          ? SHUTTING_DOWN_MESSAGE
          : "shardgate upstream_reset: the upstream stream ended early",
      );
      return;
    }
    this.relaying = false;
    // Sent again on the next member, if the rules allow, from what was kept of its body.
    if (unprocessed && this.stream !== null && ctx.hasBody) ctx.req.unpipe(this.stream);
    // Refused again (REFUSED_STREAM: RFC 9113 section 8.7, the member processed none of it) is
    // the member saying "not now" (at its stream limit, shedding load), not failing: as a call
    // that waited out its stream limit, it goes to the next member or is answered
    // upstream_stream_limit, never counted against the member (its breaker, outlier figures,
    // upstream_errors_total). A stream above a GOAWAY's last-stream-id stays a reset: the
    // session ended under it.
    if (unprocessed && this.stream?.rstCode === constants.NGHTTP2_REFUSED_STREAM) {
      this.host.unsent(this);
      return;
    }
    this.host.undiciError(this, unprocessed ? REFUSED : causeOf(err));
  }

  /** The call's gRPC deadline passed. */
  onDeadline(): void {
    const ctx = this.ctx;
    if (this.finished || ctx.done || ctx.undici !== this) return;
    const res = ctx.res;
    const started = ctx.responseStarted;
    this.cancel(DEADLINE);
    if (!started) {
      // The client's limit, not the member's failure (as a client timeout is).
      ctx.clientFault = true;
      this.host.fail(ctx, "deadline_exceeded");
      return;
    }
    ctx.errorCode = "deadline_exceeded";
    if (res !== null && !res.writableEnded && !res.destroyed)
      endWithStatus(
        res,
        GRPC.DEADLINE_EXCEEDED,
        `shardgate deadline_exceeded: ${ERRORS.deadline_exceeded.message}`,
      );
  }

  /**
   * The response timeout of a stream opened behind the member's stream limit passed. Still in
   * nghttp2's queue (its HEADERS never sent: the stream is idle), the member was never asked:
   * not the member's failure; retried on the next member as a connect failure is (the pool's
   * retry rules and budget), else `upstream_stream_limit`. Sent meanwhile: the member's timeout.
   */
  onQueueTimeout(): void {
    this.queueTimer = null;
    const ctx = this.ctx;
    if (this.finished || this.answered || ctx.done || ctx.undici !== this) return;
    const s = this.stream;
    const neverSent = s !== null && !s.destroyed && s.state.state === constants.NGHTTP2_STREAM_STATE_IDLE;
    this.cancel(QUEUE_TIMEOUT);
    if (neverSent) {
      this.host.unsent(this);
      return;
    }
    ctx.timedOut = "timeout";
    this.host.undiciError(this, QUEUE_TIMEOUT);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.queueTimer !== null) clearTimeout(this.queueTimer);
    this.queueTimer = null;
  }
}

/** A gRPC call relayed when this instance's drain deadline cut it (data-plane.ts upstreamCut). */
const SHUTTING_DOWN_MESSAGE = `shardgate shutting_down: ${ERRORS.shutting_down.message}`;

function endWithStatus(res: ServerResponse, status: number, message: string): void {
  res.addTrailers({ "grpc-status": String(status), "grpc-message": encodeGrpcMessage(message) });
  res.end();
}

function isUnprocessed(
  err: Error,
  stream: ClientHttp2Stream | null,
  session: ClientHttp2Session | null,
): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (
    code === "ERR_HTTP2_GOAWAY_SESSION" ||
    code === "ERR_HTTP2_INVALID_SESSION" ||
    stream?.rstCode === constants.NGHTTP2_REFUSED_STREAM ||
    (stream !== null && session !== null && aboveMemberGoaway(session, stream))
  );
}

/** A stream cancelled because its session failed carries the session's error as its cause. */
function causeOf(err: Error): Error {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && (cause as NodeJS.ErrnoException).code !== undefined) return cause;
  const code = (err as NodeJS.ErrnoException).code;
  return code?.startsWith("ERR_HTTP2") ? STREAM_RESET : err;
}

function refuseRequest(attempt: H2Attempt): void {
  if (attempt.ctx.undici === attempt) attempt.host.fail(attempt.ctx, "bad_request");
}

function failLater(attempt: H2Attempt, err: Error): void {
  attempt.onFailure(err);
}

function onQueueTimeout(attempt: H2Attempt): void {
  attempt.onQueueTimeout();
}

function onDeadline(attempt: H2Attempt): void {
  attempt.onDeadline();
}

function onStreamResponse(
  this: ClientHttp2Stream,
  headers: IncomingHttpHeaders,
  _flags: number,
  rawHeaders?: string[],
): void {
  (this as WithAttempt)[kAttempt]?.onResponse(headers, rawHeaders);
}

function onStreamData(this: ClientHttp2Stream, chunk: Buffer): void {
  (this as WithAttempt)[kAttempt]?.onData(chunk);
}

function onStreamTrailers(
  this: ClientHttp2Stream,
  trailers: IncomingHttpHeaders,
  _flags: number,
  rawHeaders?: string[],
): void {
  (this as WithAttempt)[kAttempt]?.onTrailers(trailers, rawHeaders);
}

function onStreamEnd(this: ClientHttp2Stream): void {
  (this as WithAttempt)[kAttempt]?.onEnd();
}

function onStreamError(this: ClientHttp2Stream, err: Error): void {
  (this as WithAttempt)[kAttempt]?.onFailure(err);
}

function onStreamClose(this: ClientHttp2Stream): void {
  // Closed without 'end' or 'error' (a reset with NGHTTP2_CANCEL emits no error).
  (this as WithAttempt)[kAttempt]?.onFailure(STREAM_RESET);
}

function onStreamFinish(this: ClientHttp2Stream): void {
  const a = (this as WithAttempt)[kAttempt];
  if (a !== undefined) a.host.undiciSent(a);
}
