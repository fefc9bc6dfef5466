// The client connection's idle / keep-alive timer without a timer per connection. Node's HTTP/1
// server moves a keep-alive socket between two timeouts on every request (socket.setTimeout of
// keepAlive + 1 s after the response, of listen.timeouts.idle on the next head), and net.Socket
// refreshes the socket's Timeout on every read and write (a relink in Node's timer list and a
// clock reading each): ~0.5 us per request of sampled time under load, work a forwarder
// without an idle timeout does not do. A socket given `reuseSocketTimer` has no Node Timeout:
// its setTimeout only notes the duration (and that the clock restarts), and one unref'd
// interval for all such sockets (the send timeout's shape, send-timeout.ts) looks at each:
// a socket whose bytesRead, bytesWritten and libuv write queue have not moved, and whose
// setTimeout was not called, for its duration gets Node's 'timeout' event, once until it moves
// again, as Node's timer gives it: Node's HTTP server then closes it (or hands the event to the
// request's and answer's listeners, as before; a tunnel's idle timer is served the same way).
//
// Resolution: the interval runs every eighth of the shortest duration given (25 to 500 ms); a
// quiet socket is seen quiet at a look after its last activity, and cut at the first look a
// full duration later: never earlier than Node's timer, at most two periods (a quarter of the
// timeout, 1 s at most) later. Anything out of the ordinary (a callback argument, a value Node
// would have to validate) goes to Node's own setTimeout, and the socket is no longer swept.

import { Socket } from "node:net";
import { OpenRequests, type OpenSlot } from "./open-requests.js";

/** The largest delay Node's timers take as given (2^31 - 1 ms). */
const TIMEOUT_MAX = 2 ** 31 - 1;

/** A swept socket's handle: libuv's write queue (bytes the kernel has not taken yet). */
type WithHandle = Socket & { _handle?: { writeQueueSize?: number } | null };

class Idle implements OpenSlot {
  openSlot = -1;
  /** The duration given last (ms); 0 = off (Node's own timer, if any, or none). */
  ms = 0;
  /** setTimeout calls so far (each restarts the clock, as Node's re-armed timer would). */
  calls = 0;
  seenCalls = -1;
  seenRead = -1;
  seenWritten = -1;
  seenQueue = -1;
  /** performance.now() of the look that last saw the socket move. */
  since = 0;
  /** 'timeout' emitted since the last move (Node's timer fires once, then waits for traffic). */
  fired = false;
  constructor(readonly socket: Socket) {}
}

const kIdle = Symbol("shardgate.idleSweep");
type Swept = WithHandle & { [kIdle]?: Idle };

const swept = new OpenRequests<Idle>();
let timer: ReturnType<typeof setInterval> | null = null;
let periodMs = 500;

function periodFor(ms: number): number {
  return Math.max(25, Math.min(500, Math.floor(ms / 8)));
}

/** Starts the interval, or restarts it at a shorter period when `ms` needs one. */
function armFor(ms: number): void {
  const p = periodFor(ms);
  if (timer !== null && p >= periodMs) return;
  if (timer !== null) clearInterval(timer);
  periodMs = timer === null ? p : Math.min(p, periodMs);
  timer = setInterval(look, periodMs);
  timer.unref();
}

function look(): void {
  if (swept.size === 0) {
    if (timer !== null) clearInterval(timer);
    timer = null;
    periodMs = 500;
    return;
  }
  const now = performance.now();
  let due: Idle[] | null = null;
  for (const w of swept) {
    const s = w.socket as WithHandle;
    const read = s.bytesRead;
    const written = s.bytesWritten ?? 0;
    const queue = s._handle?.writeQueueSize ?? 0;
    if (
      read !== w.seenRead ||
      written !== w.seenWritten ||
      queue !== w.seenQueue ||
      w.calls !== w.seenCalls
    ) {
      w.seenRead = read;
      w.seenWritten = written;
      w.seenQueue = queue;
      w.seenCalls = w.calls;
      w.since = now;
      w.fired = false;
    } else if (w.ms > 0 && !w.fired && now - w.since >= w.ms) {
      if (due === null) due = [];
      due.push(w);
    }
  }
  if (due === null) return;
  // Collected first: a 'timeout' closes (and so un-sweeps) its socket while the table is read.
  for (const w of due) {
    w.fired = true;
    if (!w.socket.destroyed) w.socket.emit("timeout");
  }
}

/** Node's own (net.Socket's; tls.TLSSocket inherits it). */
const nodeSetTimeout = Socket.prototype.setTimeout;

/** A swept socket's setTimeout (shared: `this` is the socket). */
function sweptSetTimeout(this: Swept, msecs: number, callback?: () => void): Socket {
  const w = this[kIdle];
  if (w === undefined) return nodeSetTimeout.call(this, msecs, callback);
  if (callback === undefined && typeof msecs === "number" && msecs >= 0 && msecs <= TIMEOUT_MAX) {
    if (this.destroyed) return this;
    // Given to Node's timer by a callback-given call before: that timer is dropped.
    if ((this as unknown as Record<symbol, unknown>)[kTimeout as symbol] != null) takeNodeTimer(this, null);
    (this as { timeout?: number }).timeout = msecs;
    const ms = Math.floor(msecs);
    w.ms = ms;
    w.calls++;
    if (ms > 0) armFor(ms);
    return this;
  }
  // Node's timer from here on (it validates, and keeps the callback); not swept meanwhile.
  w.ms = 0;
  return nodeSetTimeout.call(this, msecs, callback);
}

/** The symbol under which a net.Socket keeps its Timeout (Node's internal kTimeout), found once. */
let kTimeout: symbol | null | undefined;

function timeoutSymbol(socket: object): symbol | null {
  if (kTimeout !== undefined) return kTimeout;
  kTimeout = null;
  for (const s of Object.getOwnPropertySymbols(socket))
    if (s.description === "timeout") {
      const v = (socket as Record<symbol, unknown>)[s];
      if (v === null || isTimer(v)) kTimeout = s;
      break;
    }
  return kTimeout;
}

interface NodeTimer {
  _idleTimeout: number;
}

function isTimer(v: unknown): v is NodeTimer {
  return typeof v === "object" && v !== null && typeof (v as NodeTimer)._idleTimeout === "number";
}

/**
 * Moves an HTTP/1 client socket's idle timer to the sweep (idempotent; one own property and one
 * 'close' listener per connection): Node's live timer, if any, is cleared and its duration
 * swept from now on. Not for sockets an HTTP/2 session owns: Node's session timer reads the socket's.
 */
export function reuseSocketTimer(socket: Socket): void {
  const s = socket as Swept;
  const had = s[kIdle];
  if (had !== undefined) {
    // Re-taken after a callback-given setTimeout handed it to Node's timer.
    if (had.ms === 0) takeNodeTimer(s, had);
    return;
  }
  // Only a net.Socket (TLS ones included) whose setTimeout is Node's own and whose timer Node
  // keeps where expected (every net.Socket has the slot from its constructor on).
  if (s.setTimeout !== nodeSetTimeout || !(s instanceof Socket) || timeoutSymbol(s) === null || s.destroyed)
    return;
  const w = new Idle(s);
  s[kIdle] = w;
  takeNodeTimer(s, w);
  s.setTimeout = sweptSetTimeout as Socket["setTimeout"];
  swept.add(w);
  s.on("close", onSweptClose);
}

/** Node's timer, if live, becomes the sweep's (same duration, clock restarted now); `w` null: dropped. */
function takeNodeTimer(s: Swept, w: Idle | null): void {
  const k = kTimeout as symbol;
  const t = (s as unknown as Record<symbol, unknown>)[k];
  if (!isTimer(t)) return;
  const live = t._idleTimeout;
  clearTimeout(t as unknown as ReturnType<typeof setTimeout>);
  // No Timeout left to refresh on each read and write (net.Socket skips a null one).
  (s as unknown as Record<symbol, unknown>)[k] = null;
  if (w !== null && live > 0) {
    w.ms = live;
    w.calls++;
    armFor(live);
  }
}

function onSweptClose(this: Swept): void {
  const w = this[kIdle];
  if (w !== undefined) swept.delete(w);
}
