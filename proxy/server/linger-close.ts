// Closing a connection whose peer is still sending (a refused connection, a body flood past a
// cap, an answer sent before the request body was read). Destroying it with unread input makes
// the kernel answer RST, and an RST can discard the answer just written before the client has
// read it: the client sees a reset, not the 503 or the 200 it was sent. So, as nginx's lingering
// close: end the connection after what was written (FIN), read and drop whatever still arrives,
// and destroy it within bounds whatever the peer does.
//
// Two flavours. lingerClose: a fixed short time (a refused connection must not hold a slot).
// lingerAfterAnswer / lingerIfUnread: an HTTP/1 answer sent while the client was still uploading
// (the upstream's early 413/401/200, shardgate's own 400s): the client may be sending megabytes
// before it reads its answer, so the bounds are nginx's: LINGERING_TIME_MS in all,
// LINGERING_IDLE_MS without a byte, and LINGERING_MAX_BYTES read (counted per chunk as it
// arrives, input-cap.ts: checked on a timer, a loopback client sent over 1 GB between two checks).
// Lingering starts once the answer is flushed (until then a client that takes none of it for
// LINGERING_IDLE_MS is let go); the client's FIN ends it at once.

import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { testDurationMs } from "../test-duration.js";
import { destroyPastBytes } from "./input-cap.js";
import { internalMissing } from "./node-internals.js";

/** How long a refused connection keeps reading (and dropping) its peer's input. */
export const LINGER_MS = 1_000;

/**
 * nginx's lingering_time: the longest a closing connection reads after its answer went out.
 * A test that waits for the bound shortens it with SHARDGATE_TEST_LINGERING_TIME_MS (../test-duration.ts).
 */
export const LINGERING_TIME_MS = testDurationMs("LINGERING_TIME_MS", 30_000);
/** nginx's lingering_timeout: a closing connection whose client sent nothing this long is closed. */
export const LINGERING_IDLE_MS = 5_000;
/** The most a closing connection reads and drops once it lingers (counted as it arrives). */
export const LINGERING_MAX_BYTES = 64 * 1024 * 1024;
const LINGERING_TICK_MS = 500;

/** Ends `socket` after `last` (if given) and what was already written; destroys it within `ms`. */
export function lingerClose(socket: Duplex, last?: Buffer | string, ms = LINGER_MS): void {
  socket.on("error", noop);
  if (last === undefined) socket.end();
  else socket.end(last);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

const kRequest = Symbol("shardgate.lingerRequest");
const kLinger = Symbol("shardgate.linger");
const kBaseDestroySoon = Symbol("shardgate.baseDestroySoon");

/** Times are performance.now(): a stepped wall clock must neither hold a connection nor cut it short. */
interface LingerState {
  /** When the answer was flushed (-1: still writing). */
  since: number;
  /** bytesRead at the last tick, and when it last grew. */
  seen: number;
  lastReadAt: number;
  /** What is left to write at the last tick (writableLength), and when the answer last moved. */
  written: number;
  lastWriteAt: number;
  timer: NodeJS.Timeout;
}

type Closing = Socket & {
  destroySoon?: () => void;
  [kRequest]?: IncomingMessage;
  [kLinger]?: LingerState;
  /** The socket's own destroySoon before lingerIfUnread replaced it (undefined: this Node has none). */
  [kBaseDestroySoon]?: (() => void) | undefined;
};

/**
 * Called for each HTTP/1 request on the listener: when Node closes the connection after
 * answering `req` (a `Connection: close` answer) while `req`'s body is still arriving, the
 * connection lingers instead of being destroyed as soon as the answer is flushed.
 */
export function lingerIfUnread(req: IncomingMessage): void {
  const s = req.socket as Closing;
  s[kRequest] = req;
  if (s.destroySoon !== lingeringDestroySoon) {
    // Node's own (net.Socket's; tls.TLSSocket inherits it), not in @types/node: kept to call.
    s[kBaseDestroySoon] = s.destroySoon;
    s.destroySoon = lingeringDestroySoon;
  }
}

/** Node's server calls this after the last answer on a connection (res._last). */
function lingeringDestroySoon(this: Closing): void {
  const req = this[kRequest];
  if (req !== undefined && !req.complete && !this.destroyed) {
    lingerAfterAnswer(this, req);
    return;
  }
  const base = this[kBaseDestroySoon];
  if (typeof base === "function") base.call(this);
  else endThenDestroy(this);
}

/**
 * destroySoon's behaviour from documented calls, for a Node without it: end after what is
 * written, destroy once that is flushed, and within LINGERING_TIME_MS whatever the peer does.
 */
function endThenDestroy(s: Socket): void {
  internalMissing("Socket#destroySoon", "end(), destroy() once flushed or after LINGERING_TIME_MS");
  if (!s.writableEnded) s.end();
  if (s.writableFinished) {
    s.destroy();
    return;
  }
  s.once("finish", destroyThis);
  const timer = setTimeout(() => s.destroy(), LINGERING_TIME_MS);
  timer.unref();
  s.once("close", () => clearTimeout(timer));
}

function destroyThis(this: Duplex): void {
  this.destroy();
}

/** Whether `socket` is lingering (its remaining input is dropped; any error there just ends it). */
export function isLingering(socket: Duplex): boolean {
  return (socket as Closing)[kLinger] !== undefined;
}

/** Ends `socket` after what is written, then reads and drops `req`'s rest within the bounds above. */
export function lingerAfterAnswer(socket: Duplex, req?: IncomingMessage): void {
  const s = socket as Closing;
  if (s[kLinger] !== undefined || s.destroyed) return;
  const now = performance.now();
  const state: LingerState = {
    since: s.writableFinished ? now : -1,
    seen: s.bytesRead ?? 0,
    lastReadAt: now,
    written: s.writableLength,
    lastWriteAt: now,
    timer: setInterval(tick, LINGERING_TICK_MS, s),
  };
  state.timer.unref();
  s[kLinger] = state;
  s.on("error", noop);
  s.once("close", stopTicking);
  // The client's FIN: nothing more will arrive, nothing is left unread.
  s.once("end", destroyNow);
  if (!s.writableEnded) s.end();
  if (state.since < 0) s.once("finish", flushed);
  // The rest of the body goes nowhere. Node's parser pushes it into the request and stops
  // reading whenever a push is refused (a request destroyed with its upstream request, or left
  // paused by an unpipe): dumped, the request takes no more bytes and the parser drops them.
  if (req !== undefined) dump(req);
  s.resume();
  process.nextTick(capLingering, s);
}

/**
 * Counts what the lingering connection still reads (input-cap.ts), from the tick after it was
 * resumed: counting adds a 'data' listener, and on a socket Node's server parses natively that
 * takes the parser off the socket's handle, with the hooks that restart the handle's reading on
 * 'resume'. A handle stopped by backpressure (a body nobody took) is restarted by that 'resume'
 * first; a socket still paused (Node's server holding a pipelined connection until 'drain') is
 * counted once it resumes.
 */
function capLingering(s: Closing): void {
  if (s.destroyed) return;
  if (s.isPaused()) {
    s.once("resume", resumedCapLingering);
    return;
  }
  destroyPastBytes(s, s, LINGERING_MAX_BYTES);
}

function resumedCapLingering(this: Closing): void {
  capLingering(this);
}

/** IncomingMessage's own _dump (Node's server uses it for a body nobody read); resume without it. */
function dump(req: IncomingMessage): void {
  const d = (req as IncomingMessage & { _dump?: () => void })._dump;
  if (typeof d === "function") d.call(req);
  else {
    internalMissing("IncomingMessage#_dump", "resume()");
    req.resume();
  }
}

function flushed(this: Closing): void {
  const state = this[kLinger];
  if (state === undefined) return;
  state.since = performance.now();
  state.lastReadAt = state.since;
}

function tick(s: Closing): void {
  const state = s[kLinger];
  if (state === undefined || s.destroyed) return;
  const now = performance.now();
  const read = s.bytesRead ?? 0;
  if (read !== state.seen) {
    state.seen = read;
    state.lastReadAt = now;
  }
  // Until the answer is flushed, only a client that takes none of it for the idle bound is let
  // go: a raw answer has no send timeout, and one written to a TLS connection whose handshake
  // never completed (a PROXY header, then nothing) never flushes at all.
  if (state.since < 0) {
    const left = s.writableLength;
    if (left !== state.written) {
      state.written = left;
      state.lastWriteAt = now;
    } else if (now - state.lastWriteAt >= LINGERING_IDLE_MS) s.destroy();
    return;
  }
  if (now - state.since >= LINGERING_TIME_MS || now - state.lastReadAt >= LINGERING_IDLE_MS) s.destroy();
}

function stopTicking(this: Closing): void {
  const state = this[kLinger];
  if (state !== undefined) clearInterval(state.timer);
}

/** After the client's FIN: destroyed once the answer is flushed (the kernel still sends what it holds). */
function destroyNow(this: Duplex): void {
  if (this.writableFinished) this.destroy();
  else this.once("finish", destroyNow);
}

function noop(): void {}
