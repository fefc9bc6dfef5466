// listen.timeouts.request for HTTP/2 streams. Node applies it to HTTP/1.1 connections only;
// without it one h2 connection could trickle the bodies of maxConcurrentStreams requests
// forever, each holding an upstream request. Streams whose request has not fully arrived sit
// in one slot table checked by one coarse interval (no timer per stream); at the deadline the data
// plane answers as it does for an HTTP/1.1 body still arriving (408 client_timeout, or 504
// when the upstream stopped reading), and the stream is then closed. gRPC calls are exempt.

import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Duplex } from "node:stream";
import { isGrpcContentType } from "../forward/grpc-status.js";
import type { DataPlane } from "../forward/types.js";
import { CoarseWatch } from "./coarse-watch.js";

/**
 * One watched stream: its response, start time and slot in the table. Hung on the request
 * and the response by one symbol (no Map keyed by the response: a Map with one set and one
 * delete per stream keeps finished streams alive through its retired tables, see
 * proxy/forward/open-requests.ts).
 */
class Watch {
  openSlot = -1;
  constructor(
    readonly clock: H2RequestTimeouts,
    readonly res: Http2ServerResponse,
    readonly at: number,
  ) {}
}

const kWatch = Symbol("shardgate.h2watch");
type Watched = { [kWatch]?: Watch };

export class H2RequestTimeouts {
  /** Streams whose request is still arriving. */
  private readonly watch: CoarseWatch<Watch>;

  constructor(
    private readonly plane: DataPlane,
    private readonly timeoutMs: number,
    private readonly onTimeout: (code: string) => void,
  ) {
    this.watch = new CoarseWatch(timeoutMs, this.check);
  }

  /** Watches the request until its body has arrived (or its stream closed). */
  track(req: Http2ServerRequest, res: Http2ServerResponse): void {
    // gRPC streams live as long as the call (watch streams run for hours): their limit is
    // their own deadline (grpc-timeout) and the session's idle timeout, not this one.
    if (this.timeoutMs <= 0 || req.complete || isGrpcContentType(req.headers["content-type"])) return;
    const w = new Watch(this, res, performance.now());
    this.watch.add(w);
    (req as Watched)[kWatch] = w;
    (res as Watched)[kWatch] = w;
    // on, not once: once wraps the listener in a new closure per call; forget is idempotent.
    req.on("end", onWatchedEnd);
    res.on("close", onWatchedEnd);
  }

  forget(w: Watch): void {
    this.watch.delete(w);
  }

  private readonly check = (now: number, open: Iterable<Watch>): void => {
    // Collected first: answering one may close (and so forget) others while the table is read.
    const due: Watch[] = [];
    for (const w of open) if (now - w.at >= this.timeoutMs) due.push(w);
    for (const w of due) {
      this.forget(w);
      // clientTimedOut finds the request's response where Node's HTTP/1 socket keeps it.
      const answered = this.plane.clientTimedOut({ _httpMessage: w.res } as unknown as Duplex);
      // An answer given: its stream is reset (NO_ERROR) once the answer is out, and the request
      // read on (h2-answered-upload.ts). Closed here, before the answer was flushed, the client
      // never saw the reset behind a member reading none: its upload hung on a closed window.
      if (answered) this.onTimeout("client_timeout");
      else closeStream(w.res);
    }
  };

  close(): void {
    this.watch.close();
  }
}

/** The request's body arrived, or its stream closed: no longer watched. */
function onWatchedEnd(this: Http2ServerRequest | Http2ServerResponse): void {
  const w = (this as Watched)[kWatch];
  if (w !== undefined) w.clock.forget(w);
}

/**
 * The answer is out (or there is none to give): end the stream the client is still uploading on,
 * and read on what the request holds: a stream closed with NO_ERROR is destroyed (its 'close'
 * writes the access line) only once its readable side ended, and body bytes backed up behind a
 * member that reads none kept it open for good, even after the client's connection was gone.
 */
function closeStream(res: Http2ServerResponse): void {
  const s = res.stream;
  if (!s.destroyed && !s.closed) s.close();
  res.req.resume();
}
