// listen.timeouts.send (nginx's send_timeout, HAProxy's `timeout client` while sending): an
// answer being written to a client that took none of its bytes for that long is cut. Without
// it a client that stops reading a big answer held its connection, the upstream request and
// its socket for as long as it liked. The HTTP/1.1 socket's inactivity timer does not do
// it: Node re-arms it whenever its write queue moved, and a trickle of reads keeps it alive.
//
// One coarse interval (coarse-watch.ts: no timer per request) looks at every answer in flight: its queue
// (the socket's for HTTP/1.1, the stream's for HTTP/2) is non-empty and has not moved since
// the last look -> stalled since then. An HTTP/1.1 connection is watched from its first request
// to its close (one record and one 'close' listener per connection, nothing per request): the
// answer a look measures is the one Node is writing on it (`_httpMessage`), none between
// requests. Any progress (bytes flushed, queue level changed,
// queue drained) restarts the clock, so a slow but steady reader keeps its connection.
// Nothing is measured before the response head is sent: waiting on the upstream is the
// pool's response timeout. At the deadline: HTTP/1.1 closes the connection, HTTP/2 resets
// the stream with CANCEL (Envoy's stream idle timeout on a started answer); the data plane
// then cancels the upstream request and its access line says client_send_timeout.

import type { ServerResponse } from "node:http";
import { constants, type Http2ServerResponse } from "node:http2";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import type { DataPlane } from "../forward/types.js";
import { CoarseWatch } from "./coarse-watch.js";
import { internalMissing } from "./node-internals.js";

type Answer = ServerResponse | Http2ServerResponse;
/** Node's HTTP/1.1 server keeps the response it is writing on its socket (null between requests). */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

/**
 * One watched writer: an HTTP/1.1 socket (one record per connection, watched until it closes)
 * or an HTTP/2 stream (one per stream, watched until its answer closes).
 */
class Watch {
  openSlot = -1;
  /**
   * HTTP/2: the stream's answer (null once done). HTTP/1.1: unused, the socket names its
   * answer (`_httpMessage`), except on a Node without it: then one watch per answer, as HTTP/2.
   */
  res: Answer | null = null;
  /** writableLength at the last look (-1: not looked at yet). */
  level = -1;
  /** HTTP/1.1: bytes handed to the kernel at the last look. */
  flushed = -1;
  /** performance.now() of the last progress seen. */
  since = 0;
  constructor(
    readonly clock: SendTimeouts,
    readonly writer: Writable,
    readonly h2: boolean,
  ) {}
}

const kWatch = Symbol("shardgate.sendWatch");
type Watched = { [kWatch]?: Watch };

export class SendTimeouts {
  private readonly answers: CoarseWatch<Watch>;

  constructor(
    private readonly plane: DataPlane,
    private readonly timeoutMs: number,
    private readonly onTimeout: (code: string) => void,
  ) {
    this.answers = new CoarseWatch(timeoutMs, this.check);
  }

  /**
   * Watches an HTTP/1.1 answer until it finished or closed: its connection is watched from its
   * first request on, so a later request on it costs a property read.
   */
  trackHttp1(res: ServerResponse): void {
    if (this.timeoutMs <= 0) return;
    // A pipelined answer gets the socket only once those before it are done: its request's.
    const socket = (res.socket ?? res.req?.socket ?? null) as (Socket & Watched & HttpSocket) | null;
    if (socket === null || socket[kWatch] !== undefined || socket.destroyed) return;
    // Node names the answer it writes (or null) on the socket before any 'request'; undefined:
    // this Node has no such field, and each answer is watched on its own instead.
    if (socket._httpMessage === undefined) {
      internalMissing("socket._httpMessage", "each HTTP/1.1 answer watched on its own");
      this.trackAnswer(res, socket, false);
      return;
    }
    const w = new Watch(this, socket, false);
    w.since = performance.now();
    socket[kWatch] = w;
    this.answers.add(w);
    socket.on("close", onConnectionClosed);
  }

  /** Watches an HTTP/2 stream's answer until it finished or closed. */
  trackH2(res: Http2ServerResponse): void {
    if (this.timeoutMs <= 0) return;
    this.trackAnswer(res, res.stream, true);
  }

  /** Watches one answer written on `writer` until it finished or closed. */
  private trackAnswer(res: Answer, writer: Writable, h2: boolean): void {
    // Answered (or gone) already inside handleRequest: its 'close' will not come again.
    if (res.writableFinished || res.destroyed) return;
    const w = new Watch(this, writer, h2);
    w.res = res;
    w.since = performance.now();
    (res as Watched)[kWatch] = w;
    this.answers.add(w);
    // on, not once: once wraps the listener in a new closure per call; forget is idempotent.
    // 'close' comes once per answer, finished or cut (Node emits it right after 'finish').
    res.on("close", onAnswerDone);
  }

  forget(w: Watch): void {
    this.answers.delete(w);
    w.res = null;
  }

  private readonly check = (now: number, open: Iterable<Watch>): void => {
    // Collected first: cutting one closes (and so forgets) it while the table is read.
    let due: Watch[] | null = null;
    for (const w of open) {
      // HTTP/1.1: the answer Node is writing on the connection now (null between requests).
      const res = answerOf(w);
      if (res === null) {
        w.level = -1;
        continue;
      }
      const writer = w.writer;
      const level = writer.writableLength;
      const flushed = w.h2 ? 0 : (writer as Socket).bytesWritten - level;
      if (!res.headersSent || level === 0 || level !== w.level || flushed !== w.flushed) {
        w.level = level;
        w.flushed = flushed;
        w.since = now;
      } else if (now - w.since >= this.timeoutMs) {
        if (due === null) due = [];
        due.push(w);
      }
    }
    if (due === null) return;
    for (const w of due) {
      const res = answerOf(w);
      this.forget(w);
      if (res === null) continue;
      this.plane.clientSendTimedOut?.(res);
      this.onTimeout("client_send_timeout");
      if (w.h2) {
        const stream = (res as Http2ServerResponse).stream;
        if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      } else {
        w.writer.destroy();
      }
    }
  };

  close(): void {
    this.answers.close();
  }
}

/** The answer `w` measures now: its own (HTTP/2, or one answer), else the one Node writes on the socket. */
function answerOf(w: Watch): Answer | null {
  if (w.res !== null || w.h2) return w.res;
  return (w.writer as HttpSocket)._httpMessage ?? null;
}

/** The answer is out (or its stream closed): no longer watched. */
function onAnswerDone(this: Answer): void {
  const w = (this as Watched)[kWatch];
  if (w !== undefined && w.res === this) w.clock.forget(w);
}

/** The HTTP/1.1 connection closed: no longer watched. */
function onConnectionClosed(this: Socket): void {
  const w = (this as Socket & Watched)[kWatch];
  if (w !== undefined) w.clock.forget(w);
}
