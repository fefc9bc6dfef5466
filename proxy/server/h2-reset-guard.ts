// HTTP/2 rapid reset (CVE-2023-44487): a client opens streams and resets each one at once.
// Every stream costs a request, a routing decision and often an upstream request, and
// SETTINGS_MAX_CONCURRENT_STREAMS does not bound it (a reset stream no longer counts). As
// Envoy's overload rule does, a session whose closed streams are mostly reset by the client
// before any response header was sent ("premature" resets), once it has closed a minimum
// number of streams, gets GOAWAY(ENHANCE_YOUR_CALM) and is closed. A client that cancels after
// the answer started (a browser leaving a page mid-download) is never counted.
//
// The counters live on the session (two integers); one shared listener per stream, no closure.

import { constants, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";

/** Streams a session must have closed before its reset ratio is judged. */
export const RESET_MIN_STREAMS = 100;
/** Premature resets over closed streams above which the session is closed. */
export const RESET_MAX_RATIO = 0.5;

export interface ResetGuardHooks {
  /** Called once per session closed for too many premature resets. */
  onTripped(session: ServerHttp2Session, closed: number, premature: number): void;
}

interface Counts {
  closed: number;
  premature: number;
  hooks: ResetGuardHooks;
}

const kCounts = Symbol("shardgate.h2resets");
const kSession = Symbol("shardgate.h2session");
type Guarded = { [kCounts]?: Counts };
type StreamWithSession = ServerHttp2Stream & { [kSession]?: ServerHttp2Session };

/** Starts counting the session's streams. */
export function guardResets(session: ServerHttp2Session, hooks: ResetGuardHooks): void {
  (session as Guarded)[kCounts] = { closed: 0, premature: 0, hooks };
  session.on("stream", onStream);
}

function onStream(this: ServerHttp2Session, stream: ServerHttp2Stream): void {
  // The stream forgets its session when destroyed, before 'close': keep it here.
  (stream as StreamWithSession)[kSession] = this;
  stream.once("close", onStreamClose);
}

function onStreamClose(this: StreamWithSession): void {
  const session = this[kSession];
  if (session === undefined) return;
  const c = (session as Guarded)[kCounts];
  if (c === undefined || session.destroyed) return;
  c.closed++;
  // A non-zero RST code with no response header sent: the client gave up before any answer
  // (our own resets come after an answer: timeouts and upstream cuts answer first).
  if (this.rstCode !== undefined && this.rstCode !== constants.NGHTTP2_NO_ERROR && !this.headersSent)
    c.premature++;
  if (c.closed >= RESET_MIN_STREAMS && c.premature > c.closed * RESET_MAX_RATIO) {
    (session as Guarded)[kCounts] = undefined;
    c.hooks.onTripped(session, c.closed, c.premature);
    // destroy(err, code) sends GOAWAY with `code` and closes the socket; the error goes to the
    // session's 'error' listener (h2-listener.ts keeps it from being uncaught).
    session.destroy(new Error("too many premature stream resets"), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}
