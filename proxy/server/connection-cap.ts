// A bound on the open connections of one listener (HAProxy's `maxconn`, nginx's
// `worker_connections`): without it every idle or trickling socket costs memory and a file
// descriptor and nothing refuses the next one (8,000 idle sockets held ~36 MB of one process).
//
// The gate sits in front of the server's own 'connection' listeners (HTTP parser, TLS, the h2c
// sniff, the PROXY header), so a refused socket never reaches a parser: no request on it is
// ever handled. A refused connection gets a coded 503 `too_many_connections` (plain ports; a
// TLS port cannot answer before its handshake, so it is closed) and is closed.
//
// At the cap, before refusing, the connection idle the longest is closed to admit the new one
// (nginx reuses idle keep-alive connections when it runs out; Envoy's overload manager and
// HAProxy close idle ones first). Which connections count as idle is the `reclaim` mode:
// - "keep-alive" (the data port): an HTTP/1.1 connection that has been answered at least once
//   and has no request in flight. Never a fresh connection (it may be a TLS handshake, an h2c
//   preface or a PROXY header in progress: listen.timeouts.headers ends those), never an
//   upgraded one (websocket), never an HTTP/2 session (its streams are invisible here), and
//   never one with a request being answered. So 10,000 idle keep-alive clients no longer lock
//   out every new client; only connections all busy (or all fresh) make a new one wait.
// - "no-request" (the admin port, HTTP/1.1 only): any connection with no request in flight,
//   a fresh one too (one trickling its headers: a slowloris). So tricklers holding every slot
//   cannot starve a probe of /readyz or a scrape of /metrics.
//
// Bookkeeping per request is two pointer updates in requestStarted(), with the request's start
// time: the public listener calls it from its own 'request' handler with the data plane's start
// (a second 'request' listener made Node copy the listener array on every request, and read the
// clock again); the admin port lets the cap listen itself. Nothing listens on the response. Whether a connection has a request in flight is read from the
// connection when it matters (at the cap, at scrape time): Node's HTTP/1.1 server keeps the
// response it is writing on the socket (`_httpMessage`) from the moment a request is emitted
// (pipelined ones queue behind it) until the last one finished, null otherwise. At the cap the
// candidates are walked from the least recently active; busy ones passed go to the tail.

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { rawErrorResponse } from "../errors.js";
import { lingerClose } from "./linger-close.js";

export type ReclaimMode = "keep-alive" | "no-request";

export interface ConnectionCapOptions {
  /** Open connections allowed at once. */
  max: number;
  /** Which connections may be closed, longest idle first, to admit a new one at the cap. */
  reclaim: ReclaimMode;
  /** The listener speaks TLS: a refusal cannot be answered in plain text, it is only closed. */
  tls: boolean;
  /** A connection refused at the cap. */
  onRefused?: () => void;
  /** An idle connection closed to make room. */
  onReclaimed?: () => void;
  /** Monotonic clock in ms (performance.now by default; tests freeze it to hold the back-off window). */
  now?: () => number;
  /**
   * False: the caller calls ConnectionCap.requestStarted from its own 'request' listener (one
   * listener per request instead of two). Default true: the cap adds its own.
   */
  listenForRequests?: boolean;
  /**
   * The server takes upgrades (WebSockets): the cap listens for them to pin the connection.
   * False (the admin port, which has none): no 'upgrade' listener is added, since any listener
   * makes Node hand a request offering `Upgrade` to it instead of answering it as a request.
   * Default true.
   */
  upgrades?: boolean;
}

export interface ConnectionCap {
  /** Connections admitted and still open. */
  open(): number;
  /** Of those, connections the cap may reclaim now (idle, as the mode defines it). */
  idle(): number;
  /** How long the longest-idle of them has been idle (ms); 0 when none is. */
  oldestIdleMs(): number;
  /**
   * A request was emitted on a connection (every 'request', in emit order). `now`: its start on
   * the cap's clock when the caller has read it already; omitted or negative, the cap reads it.
   */
  requestStarted(req: IncomingMessage, now?: number): void;
}

interface Entry {
  socket: Socket;
  /** The socket HTTP requests arrive on (the TLSSocket over `socket` on a TLS port); null before the first request. */
  http: HttpSocket | null;
  /** Upgraded (websocket): the socket left the HTTP server; never reclaimed. */
  pinned: boolean;
  /** The clock (opts.now) when its last request started (or it was accepted, before any). */
  idleSince: number;
  /** Neighbours in the list (least recently active at its head); null when not in it. */
  prev: Entry | null;
  next: Entry | null;
  listed: boolean;
  /** Its slot was given back (on destroy() or 'close', whichever came first). */
  released: boolean;
}

/** Node's HTTP/1.1 server: the response being written on the socket, null (or absent) when none. */
type HttpSocket = Duplex & { _httpMessage?: unknown };

/** No request in flight on the connection (answered, or none yet). */
function noRequestInFlight(e: Entry): boolean {
  return !e.socket.destroyed && (e.http === null || e.http._httpMessage == null);
}

/**
 * How long a connection that has sent nothing is spared from a reclaim. A burst of clients is
 * accepted in one go before any request on it is read, so the freshest of them looked like
 * tricklers with nothing in flight while their whole requests sat unread in the kernel: 6 of 22
 * clients at a cap of 16 were closed without an answer. A trickler has sent part of a head
 * (bytes read) or has been silent past this; either is still reclaimed at once.
 */
export const FRESH_GRACE_MS = 1_000;

/**
 * How long the grace is off once a connection has ended having sent nothing. The grace let an
 * attacker keep every slot fresh by replacing its silent connections before their grace ran out
 * (a few dozen a second at a cap of 8), and every probe in between was refused: a burst's clients
 * send at once, so a silent one ending is the sign of that, and the listener then reclaims fresh
 * connections at once again, as before the grace.
 */
export const FRESH_GRACE_OFF_MS = 10_000;

/**
 * Closable for a new connection: no request in flight, and not a connection just accepted and
 * unread while `grace` holds.
 */
function reclaimable(e: Entry, now: number, grace: boolean): boolean {
  if (!noRequestInFlight(e)) return false;
  return !grace || e.http !== null || e.socket.bytesRead > 0 || now - e.idleSince >= FRESH_GRACE_MS;
}

/**
 * Reclaim candidates, least recently active first: an intrusive doubly-linked list, so a request
 * starting costs two pointer updates. A candidate is idle when no request is in flight on it
 * (noRequestInFlight), looked up when needed; among the idle ones, the one whose last request
 * started first went idle first, for connections answered one request at a time. (A Map deleted from and re-inserted into per
 * request rehashed its table every few dozen requests, and the retired tables kept finished
 * requests' objects alive into the old generation: the cost the metrics' in-flight table once had.)
 */
class IdleList {
  private head: Entry | null = null;
  private tail: Entry | null = null;
  size = 0;

  push(e: Entry): void {
    if (e.listed) this.remove(e);
    e.prev = this.tail;
    e.next = null;
    if (this.tail === null) this.head = e;
    else this.tail.next = e;
    this.tail = e;
    e.listed = true;
    this.size++;
  }

  remove(e: Entry): void {
    if (!e.listed) return;
    if (e.prev === null) this.head = e.next;
    else e.prev.next = e.next;
    if (e.next === null) this.tail = e.prev;
    else e.next.prev = e.prev;
    e.prev = null;
    e.next = null;
    e.listed = false;
    this.size--;
  }

  /** The connection idle the longest, or null: the least recently active with no request in flight. */
  firstIdle(): Entry | null {
    for (let e = this.head; e !== null; e = e.next) if (noRequestInFlight(e)) return e;
    return null;
  }

  /**
   * firstIdle for a reclaim: a connection found busy on the way goes to the tail (it becomes
   * idle later than every connection idle now), so the next walk does not pass it again first.
   */
  takeIdle(now: number, grace: boolean): Entry | null {
    let n = this.size;
    for (let e = this.head; e !== null && n > 0; n--) {
      const next = e.next;
      if (reclaimable(e, now, grace)) return e;
      // Busy: to the tail. Just accepted and unread: left in place, its grace not extended.
      if (!noRequestInFlight(e)) {
        e.idleSince = now;
        this.push(e);
      }
      e = next;
    }
    return null;
  }

  /** The least recently active candidate (the list's head), for a walk of them all. */
  first(): Entry | null {
    return this.head;
  }

  /** Connections idle now (at scrape time: a walk of the candidates). */
  idleCount(): number {
    let n = 0;
    for (let e = this.head; e !== null; e = e.next) if (noRequestInFlight(e)) n++;
    return n;
  }
}

/** After a reclaim walk over more than LONG_WALK candidates found none idle, the next waits this long (ms). */
const NO_IDLE_RECHECK_MS = 10;
const LONG_WALK = 256;

const ENTRY = Symbol("shardgate.connectionCapEntry");
/** On a capped server: ends keep-alive on every HTTP/1.1 response not yet begun (endKeepAlive). */
const END_KEEP_ALIVE = Symbol("shardgate.endKeepAlive");
type Tagged = Duplex & { [ENTRY]?: Entry; _parent?: unknown };

type ConnectionListener = (this: Server, socket: Socket) => void;

/** Installs the cap on `server`. Call after every other 'connection' listener is attached. */
export function capConnections(server: Server, opts: ConnectionCapOptions): ConnectionCap {
  let open = 0;
  const idle = new IdleList();
  const clock = opts.now ?? performanceNow;
  const inner = server.listeners("connection") as ConnectionListener[];
  server.removeAllListeners("connection");

  /** Until when a walk that found every candidate busy is not repeated (on the clock). */
  let noIdleUntil = 0;
  /** Until when fresh connections get no grace (on the clock): one ended having sent nothing. */
  let graceOffUntil = Number.NEGATIVE_INFINITY;

  function reclaimOne(): boolean {
    // At the cap with many candidates all busy (a flood while every slot serves a slow request),
    // each new connection would walk them all: one such walk per NO_IDLE_RECHECK_MS at most,
    // refusals in between. A connection that went idle within that window makes room a few ms later.
    const now = clock();
    if (now < noIdleUntil) return false;
    const entry = idle.takeIdle(now, now >= graceOffUntil);
    if (entry === null) {
      if (idle.size > LONG_WALK) noIdleUntil = now + NO_IDLE_RECHECK_MS;
      return false;
    }
    idle.remove(entry);
    entry.pinned = true; // closing: never counted idle again
    entry.socket.destroy();
    opts.onReclaimed?.();
    return true;
  }

  server.on("connection", function gate(this: Server, socket: Socket) {
    if (open >= opts.max && !reclaimOne()) {
      refuse(socket, opts.tls);
      opts.onRefused?.();
      return;
    }
    open++;
    const entry: Entry = {
      socket,
      http: null,
      pinned: false,
      idleSince: clock(),
      prev: null,
      next: null,
      listed: false,
      released: false,
    };
    (socket as Tagged)[ENTRY] = entry;
    if (opts.reclaim === "no-request") idle.push(entry);
    // The slot is free from destroy() on, not from its 'close' (emitted once the handle has
    // closed, later in the loop): a connection accepted in between, with every other slot
    // busy, was refused 503. Whichever comes first releases it; the other finds it released.
    const destroy = socket.destroy;
    socket.destroy = function destroyAndRelease(this: Socket, err?: Error) {
      release(entry);
      return destroy.call(this, err);
    };
    socket.once("close", () => release(entry));
    for (const listener of inner) listener.call(this, socket);
  });

  function release(entry: Entry): void {
    if (entry.released) return;
    entry.released = true;
    open--;
    if (opts.reclaim === "no-request" && entry.http === null && entry.socket.bytesRead === 0)
      graceOffUntil = clock() + FRESH_GRACE_OFF_MS;
    entry.pinned = true;
    idle.remove(entry);
  }

  function requestStarted(req: IncomingMessage, now?: number): void {
    const entry = entryOf(req.socket);
    if (entry === undefined || entry.pinned) return;
    // Answered at least once from now on: a candidate (keep-alive mode), moved to the tail.
    entry.http ??= req.socket;
    entry.idleSince = now !== undefined && now >= 0 ? now : clock();
    idle.push(entry);
  }

  if (opts.listenForRequests !== false) server.on("request", (req: IncomingMessage) => requestStarted(req));
  if (opts.upgrades !== false)
    server.on("upgrade", (req: IncomingMessage) => {
      const entry = entryOf(req.socket);
      if (entry === undefined) return;
      entry.pinned = true;
      idle.remove(entry);
    });

  (server as Server & { [END_KEEP_ALIVE]?: () => void })[END_KEEP_ALIVE] = () => {
    for (let e = idle.first(); e !== null; e = e.next) {
      const res = e.http?._httpMessage as
        | { headersSent?: boolean; shouldKeepAlive?: boolean }
        | null
        | undefined;
      if (res != null && res.headersSent === false) res.shouldKeepAlive = false;
    }
  };

  return {
    open: () => open,
    idle: () => idle.idleCount(),
    oldestIdleMs: () => {
      const entry = idle.firstIdle();
      return entry === null ? 0 : clock() - entry.idleSince;
    },
    requestStarted,
  };
}

/**
 * The gate's record for the connection a request came on. Over TLS the request's socket is
 * the TLSSocket around the accepted one (Node keeps it as `_parent`); found once, then tagged.
 * A socket it cannot place is never reclaimed (the safe side).
 */
function entryOf(socket: Duplex | null): Entry | undefined {
  if (socket === null) return undefined;
  const s = socket as Tagged;
  const own = s[ENTRY];
  if (own !== undefined) return own;
  const parent = s._parent as Tagged | undefined;
  const entry = parent?.[ENTRY];
  if (entry !== undefined) s[ENTRY] = entry;
  return entry;
}

function refuse(socket: Socket, tls: boolean): void {
  if (tls) {
    socket.on("error", noop);
    socket.destroy();
    return;
  }
  lingerClose(socket, rawErrorResponse("too_many_connections", ""));
}

function noop(): void {}

/**
 * At the start of a drain: every HTTP/1.1 response whose head is not yet sent, and every
 * request that arrives from now on, answers with `Connection: close` and the connection then
 * ends (nginx and HAProxy turn keep-alive off on a graceful stop the same way). Node's server
 * keeps answering `keep-alive` after close(), so a client sent its next request on the
 * connection just as the drain closed it as idle: a reset on every busy keep-alive connection.
 * The in-flight responses are found through the cap's list (keep-alive mode lists every
 * connection that has had a request); a server without a cap gets the second half only.
 */
export function endKeepAlive(server: Server): void {
  server.prependListener("request", (_req: IncomingMessage, res: ServerResponse) => {
    res.shouldKeepAlive = false;
  });
  (server as Server & { [END_KEEP_ALIVE]?: () => void })[END_KEEP_ALIVE]?.();
}

function performanceNow(): number {
  return performance.now();
}
