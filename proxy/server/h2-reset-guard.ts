// HTTP/2 rapid reset (CVE-2023-44487): a client opens streams and resets each one at once.
// Every stream costs a request, a routing decision and often an upstream request, and
// SETTINGS_MAX_CONCURRENT_STREAMS does not bound it (a reset stream no longer counts). As
// Envoy's overload rule does, a session whose closed streams are mostly reset by the client
// before any response header was sent and within 1 s of their start ("premature" resets), once
// it has closed a minimum number of streams, gets GOAWAY(ENHANCE_YOUR_CALM) and is closed. A
// client that cancels after the answer started (a browser leaving a page mid-download), or
// after waiting over a second for it (a gRPC deadline), is never counted.
//
// A flood's first read is parsed whole before JS sees a stream: on the h2c port the sniffed
// bytes (h2c-preface.ts) reach nghttp2 in one call, and each stream's 'stream' event comes after
// it, the stream already reset. Counted at 'close' (a tick later still), all of a 64 KiB read's
// HEADERS + RST_STREAM pairs (~1,000) were routed and logged before the 100th close was seen:
// 1,007 streams reached the data plane per connection, until nghttp2's own reset rate limit (a
// burst of 1,000) ended it. Now a stream already reset when it is announced is counted then (this
// listener runs before the server's), and a stream announced once its session was closed for
// resets is marked: the listener drops it without routing it (isDroppedByResetGuard).
//
// The counters live on the session (two integers); one shared listener per stream, no closure.

import { constants, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";

/** Streams a session must have closed before its reset ratio is judged. */
export const RESET_MIN_STREAMS = 100;
/** Premature resets over closed streams above which the session is closed. */
export const RESET_MAX_RATIO = 0.5;
/**
 * A client reset is premature only within this long of the stream's start (Envoy's
 * premature_reset_min_stream_lifetime, 1 s): a gRPC deadline or a browser giving up on a slow
 * page cancels after seconds, and a member slow to answer must not get such clients' connections
 * closed (test/outside/h2-deadline-cancels.test.ts). A flood resets at once.
 */
export const RESET_PREMATURE_MS = 1_000;

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
const kDropped = Symbol("shardgate.h2dropped");
const kStarted = Symbol("shardgate.h2started");
type StreamWithSession = ServerHttp2Stream & {
  [kSession]?: ServerHttp2Session;
  [kDropped]?: true;
  [kStarted]?: number;
};

/** Starts counting the session's streams. */
export function guardResets(session: ServerHttp2Session, hooks: ResetGuardHooks): void {
  (session as Guarded)[kCounts] = { closed: 0, premature: 0, hooks };
  // Before the server's own listener, which turns the stream into a request.
  session.prependListener("stream", onStream);
}

/** A stream its session's reset guard had already closed the session for: route it nowhere. */
export function isDroppedByResetGuard(stream: ServerHttp2Stream): boolean {
  return (stream as StreamWithSession)[kDropped] === true;
}

function onStream(this: ServerHttp2Session, stream: ServerHttp2Stream): void {
  const c = (this as Guarded)[kCounts];
  if (c === undefined) {
    // Tripped: the session is closing for resets.
    (stream as StreamWithSession)[kDropped] = true;
    return;
  }
  if (stream.destroyed) {
    // Parsed, reset and closed before JS was told of it: its 'close' has been and gone.
    count(this, c, stream);
    return;
  }
  // The stream forgets its session when destroyed, before 'close': keep it here.
  (stream as StreamWithSession)[kSession] = this;
  (stream as StreamWithSession)[kStarted] = performance.now();
  stream.once("close", onStreamClose);
}

function onStreamClose(this: StreamWithSession): void {
  const session = this[kSession];
  if (session === undefined) return;
  const c = (session as Guarded)[kCounts];
  if (c === undefined || session.destroyed) return;
  count(session, c, this);
}

function count(session: ServerHttp2Session, c: Counts, stream: ServerHttp2Stream): void {
  c.closed++;
  // A non-zero RST code with no response header sent: the client gave up before any answer
  // (our own resets come after an answer: timeouts and upstream cuts answer first).
  // A stream announced already reset has no start: premature.
  const started = (stream as StreamWithSession)[kStarted];
  if (
    stream.rstCode !== undefined &&
    stream.rstCode !== constants.NGHTTP2_NO_ERROR &&
    !stream.headersSent &&
    (started === undefined || performance.now() - started < RESET_PREMATURE_MS)
  )
    c.premature++;
  if (c.closed >= RESET_MIN_STREAMS && c.premature > c.closed * RESET_MAX_RATIO) {
    (session as Guarded)[kCounts] = undefined;
    c.hooks.onTripped(session, c.closed, c.premature);
    // destroy(err, code) sends GOAWAY with `code` and closes the socket, which lingers first so
    // that a client still sending reads the GOAWAY (h2-error-goaway.ts stands in for the
    // session's destroy); the error goes to the session's 'error' listener (h2-listener.ts keeps
    // it from being uncaught).
    session.destroy(new Error("too many premature stream resets"), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}
