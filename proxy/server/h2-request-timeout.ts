// listen.timeouts.request for HTTP/2 streams. Node applies it to HTTP/1.1 connections only;
// without it one h2 connection could trickle the bodies of maxConcurrentStreams requests
// forever, each holding an upstream request. Streams whose request has not fully arrived sit
// in one map checked by one coarse interval (no timer per stream); at the deadline the data
// plane answers as it does for an HTTP/1.1 body still arriving (408 client_timeout, or 504
// when the upstream stopped reading), and the stream is then closed. gRPC calls are exempt.

import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Duplex } from "node:stream";
import { isGrpcContentType } from "../forward/grpc-status.js";
import type { DataPlane } from "../forward/types.js";

export class H2RequestTimeouts {
  /** Responses of requests still arriving, with their start time. */
  private readonly open = new Map<Http2ServerResponse, number>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly plane: DataPlane,
    private readonly timeoutMs: number,
    private readonly onTimeout: (code: string) => void,
  ) {}

  /** Watches the request until its body has arrived (or its stream closed). */
  track(req: Http2ServerRequest, res: Http2ServerResponse): void {
    // gRPC streams live as long as the call (watch streams run for hours): their limit is
    // their own deadline (grpc-timeout) and the session's idle timeout, not this one.
    if (this.timeoutMs <= 0 || req.complete || isGrpcContentType(req.headers["content-type"])) return;
    this.open.set(res, performance.now());
    (req as Tracked)[kClock] = this;
    (req as Tracked)[kRes] = res;
    (res as Tracked)[kClock] = this;
    req.once("end", onRequestEnd);
    res.once("close", onResponseClose);
    if (this.timer === null) {
      this.timer = setInterval(this.check, Math.max(25, Math.min(1000, Math.floor(this.timeoutMs / 4))));
      this.timer.unref();
    }
  }

  forget(res: Http2ServerResponse): void {
    this.open.delete(res);
    if (this.open.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private readonly check = (): void => {
    const now = performance.now();
    for (const [res, at] of this.open) {
      if (now - at < this.timeoutMs) continue;
      this.forget(res);
      // clientTimedOut finds the request's response where Node's HTTP/1 socket keeps it.
      const answered = this.plane.clientTimedOut({ _httpMessage: res } as unknown as Duplex);
      if (answered) this.onTimeout("client_timeout");
      // close() flushes the answer first, then resets the stream (NO_ERROR): the upload stops.
      closeStream(res);
    }
  };

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.open.clear();
  }
}

const kClock = Symbol("shardgate.h2clock");
const kRes = Symbol("shardgate.h2res");
type Tracked = { [kClock]?: H2RequestTimeouts; [kRes]?: Http2ServerResponse };

function onRequestEnd(this: Http2ServerRequest): void {
  const res = (this as Tracked)[kRes];
  if (res !== undefined) (this as Tracked)[kClock]?.forget(res);
}

function onResponseClose(this: Http2ServerResponse): void {
  (this as Tracked)[kClock]?.forget(this);
}

/** The answer is out (or there is none to give): end the stream the client is still uploading on. */
function closeStream(res: Http2ServerResponse): void {
  const s = res.stream;
  if (!s.destroyed && !s.closed) s.close();
}
