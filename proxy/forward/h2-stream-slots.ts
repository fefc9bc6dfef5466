// Streams open on an upstream HTTP/2 session, against the member's
// SETTINGS_MAX_CONCURRENT_STREAMS. A stream opened above that limit is not refused: nghttp2
// keeps its HEADERS queued until one of the session's streams closes, and its body cannot go
// meanwhile. Its response timeout must then run from the moment it was queued: it starts only
// once the body was sent (so a slow upload is the client's time, not the member's), and a queued
// body is never sent while the member's slots stay taken (100 long-lived gRPC streams), so a
// call queued behind them waited with no limit at all. The count is an integer on the session
// and one shared close listener per stream, no closure.

import type { ClientHttp2Session, ClientHttp2Stream } from "node:http2";

/** nghttp2's assumption (Node's peerMaxConcurrentStreams) until the member's SETTINGS arrive. */
const ASSUMED_LIMIT = 100;

const kOpen = Symbol("shardgate.h2open");
const kSession = Symbol("shardgate.h2slotsession");
type Counted = ClientHttp2Session & { [kOpen]?: number };
type Slotted = ClientHttp2Stream & { [kSession]?: Counted };

/**
 * Counts `stream`, just opened on `session`, until it closes; true when it was opened with all
 * of the member's slots taken (it waits in the session's queue).
 */
export function takeSlot(session: ClientHttp2Session, stream: ClientHttp2Stream): boolean {
  const s = session as Counted;
  const open = s[kOpen] ?? 0;
  s[kOpen] = open + 1;
  (stream as Slotted)[kSession] = s;
  stream.once("close", onSlotClose);
  return open >= (session.remoteSettings.maxConcurrentStreams ?? ASSUMED_LIMIT);
}

function onSlotClose(this: Slotted): void {
  const s = this[kSession];
  if (s === undefined) return;
  this[kSession] = undefined;
  s[kOpen] = (s[kOpen] ?? 1) - 1;
}

/** Streams counted open on `session` (takeSlot until their close). */
export function openStreams(session: ClientHttp2Session): number {
  return (session as Counted)[kOpen] ?? 0;
}
