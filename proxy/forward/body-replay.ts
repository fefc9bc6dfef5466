// The request body an HTTP/2 attempt has streamed so far, kept (up to REPLAY_LIMIT bytes) so
// that a stream the member never processed can go again with its whole body. RFC 9113 section
// 6.8: streams above a GOAWAY's last-stream-id (and streams refused with REFUSED_STREAM) were
// not processed and are safe to retry, even a POST; but the body had been piped into the first
// stream, so it was lost and the request failed 502 upstream_reset. Envoy keeps such a body up
// to a per-request buffer limit; so does this, for the re-sends of such streams (on the member's
// new session, then on the next member). A body past the limit is not kept (its chunks are let
// go at once) and such a request fails as before. All kept bodies together hold at most
// REPLAY_BUDGET bytes (process-wide): a chunk that would pass it makes its body unreplayable
// (as one past REPLAY_LIMIT), so many held uploads cannot pin 64 KiB each without end.
//
// Cost: nothing for a request without a body; with one, the chunks read are referenced (never
// copied) by one object made on the first chunk, and one shared 'data' listener.

import type { EventEmitter } from "node:events";
import type { Readable, Writable } from "node:stream";

/** Bytes of request body kept for a re-send; past it the body is not replayable. */
export const REPLAY_LIMIT = 64 * 1024;
/** Bytes of request bodies kept for re-sends by the whole process; past it a body is not kept. */
export const REPLAY_BUDGET = 64 * 1024 * 1024;

/** What is kept now and how often the budget let a body go (read at /metrics scrape time). */
export const replayFigures = { keptBytes: 0, overBudget: 0 };

const kReplay = Symbol("shardgate.bodyReplay");

class BodyReplay {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  overflow = false;
}

/** Lets `r`'s chunks go and gives their bytes back to the budget; no more is kept for it. */
function release(r: BodyReplay): void {
  if (!r.overflow) replayFigures.keptBytes -= r.bytes;
  r.overflow = true;
  r.chunks.length = 0;
}

type WithReplayOf = EventEmitter & { [kReplayOf]?: BodyReplay };
const kReplayOf = Symbol("shardgate.bodyReplayOf");

/** The downstream answer closed (sent, or the client gone): no re-send will come. */
function onAnswerClose(this: WithReplayOf): void {
  const r = this[kReplayOf];
  if (r !== undefined) release(r);
}

type WithReplay = Readable & { [kReplay]?: BodyReplay };

function onBodyChunk(this: WithReplay, chunk: Buffer): void {
  let r = this[kReplay];
  if (r === undefined) {
    r = new BodyReplay();
    this[kReplay] = r;
  }
  if (r.overflow) return;
  const over = r.bytes + chunk.length > REPLAY_LIMIT;
  if (over || replayFigures.keptBytes + chunk.length > REPLAY_BUDGET) {
    if (!over) replayFigures.overBudget++;
    release(r);
    this.off("data", onBodyChunk);
    return;
  }
  r.bytes += chunk.length;
  replayFigures.keptBytes += chunk.length;
  r.chunks.push(chunk);
}

/**
 * Keeps what is read of `body` from now on (call before anything reads it) until `answer`
 * (the downstream response, when there is one) closes or forgetBody. Not the body's own
 * 'close': a request body read to its end closes at once, long before any re-send.
 */
export function recordBody(body: Readable, answer: EventEmitter | null): void {
  let r = (body as WithReplay)[kReplay];
  if (r === undefined) {
    r = new BodyReplay();
    (body as WithReplay)[kReplay] = r;
    if (answer !== null) {
      (answer as WithReplayOf)[kReplayOf] = r;
      answer.once("close", onAnswerClose);
    }
  }
  // Once per body, whichever attempt (a retry on another member) asks again.
  body.off("data", onBodyChunk);
  body.on("data", onBodyChunk);
}

/** Whether `body` could be sent again from its start: nothing read yet, or all of it kept. */
export function bodyReplayable(body: Readable): boolean {
  if (!body.readableDidRead) return true;
  const r = (body as WithReplay)[kReplay];
  return r !== undefined && !r.overflow;
}

/**
 * Writes what was kept of `body` (what earlier attempts read) to `dest`, keeping it for another
 * re-send; recordBody keeps what is read next. Nothing kept: nothing written.
 */
export function replayBody(body: Readable, dest: Writable): void {
  const r = (body as WithReplay)[kReplay];
  if (r === undefined || r.overflow) return;
  for (const c of r.chunks) dest.write(c);
}

/** Stops keeping `body` (the attempt was answered: no re-send will come) and lets its chunks go. */
export function forgetBody(body: Readable): void {
  body.off("data", onBodyChunk);
  const r = (body as WithReplay)[kReplay];
  if (r !== undefined) release(r);
}
