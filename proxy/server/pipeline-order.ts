// Order for HTTP/1.1 requests pipelined on one connection. Node's server emits 'request' for
// every request it parses at once and only queues the answers, so a client that pipelined
// `POST /a` then `GET /b` had both run upstream together: the GET could read state before the
// POST wrote it. RFC 9112 section 9.3.2 allows parallel work on pipelined requests only when
// all are safe. Here a request is handed to the data plane at once when nothing is in flight
// on its connection (the common case: Node gave its answer the socket, so every answer before
// it is done; nothing is watched then, no listener added), or when it and everything in
// flight or waiting before it are safe (GET, HEAD, OPTIONS: a burst of pipelined GETs keeps
// running in parallel, as before). Otherwise it waits until the answers before it are done
// (written whole, or cut): an unsafe request behind anything, and anything behind an unsafe
// one or an HTTP/1.0 one (its connection may close after its answer: then what waited behind
// it is dropped, never run upstream). HAProxy and Envoy go further and run one request at a
// time per connection.
//
// Bounds: a waiting request is parsed but not forwarded, so it holds no upstream connection,
// member load or probe slot until it runs; its body stays in the socket (Node stops reading
// once the request's own buffer is full). Past MAX_HELD waiting requests on a connection the
// socket is paused as Node pauses it for unread answers (its own `_paused` flag), so a client
// cannot queue without bound (what one read already brought is still parsed: 96 requests of
// 1 KiB behind a held POST peaked at 60 waiting); reading resumes as they run. A connection closed with requests
// still waiting drops them (they never reached an upstream, as bytes after a cut never do).

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { internalMissing } from "./node-internals.js";

/** Waiting requests on one connection before the listener stops reading it. */
export const MAX_HELD = 32;

const kLane = Symbol("shardgate.pipelineLane");
const kLaneOfRes = Symbol("shardgate.pipelineLaneOfRes");
const kUnsafe = Symbol("shardgate.pipelineUnsafe");

/** `queuedMs`: how long the request waited here (0 when run on arrival). */
type Run = (req: IncomingMessage, res: ServerResponse, queuedMs?: number) => void;

/** What runs and what waits on one connection. */
class Lane {
  /** Requests handed to the data plane whose answer has not closed. */
  inFlight = 0;
  /** How many of those are unsafe. */
  unsafeInFlight = 0;
  /** Waiting requests, in arrival order: req, res, req, res ... */
  readonly held: Array<IncomingMessage | ServerResponse> = [];
  /** performance.now() at each waiting request's arrival, one per request of `held`. */
  readonly arrived: number[] = [];
  /** True while this lane paused the socket (MAX_HELD reached). */
  paused = false;
  /** The answers counted in `inFlight` (onLaneSocketClose reads them). */
  readonly watched = new Set<ResWithLane>();
  constructor(
    readonly socket: Socket,
    readonly run: Run,
  ) {}
}

type WithLane = Socket & {
  [kLane]?: Lane;
  /** Node's: the answer that owns the socket (the earliest not yet written whole). */
  _httpMessage?: ServerResponse | null;
  _paused?: boolean;
  parser?: { pause?(): void; resume?(): void } | null;
};
type ResWithLane = ServerResponse & { [kLaneOfRes]?: Lane; [kUnsafe]?: boolean };

/** RFC 9110 section 9.2.1 safe methods that reach the data plane (TRACE is refused before). */
export function isSafeMethod(method: string | undefined): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS";
}

/**
 * Whether what is pipelined behind `req` must wait for its answer: an unsafe method, or
 * HTTP/1.0 (a kept-alive 1.0 connection still closes after an answer without a length, and a
 * request run behind it would have its answer dropped).
 */
function runsAlone(req: IncomingMessage | undefined): boolean {
  return req === undefined || !isSafeMethod(req.method) || req.httpVersionMinor === 0;
}

/**
 * Hands `req` to `run` now, or once the answers before it on its connection allow it.
 * `run` is the same function for every request of a listener (bound once).
 */
export function admitInOrder(req: IncomingMessage, res: ServerResponse, run: Run): void {
  const socket = req.socket as WithLane;
  let lane = socket[kLane];
  // Node hands the socket to an answer only once every answer before it is done: then nothing
  // is in flight before this request, and nothing needs watching until one is pipelined behind.
  if (
    (lane === undefined || (lane.inFlight === 0 && lane.held.length === 0)) &&
    socket._httpMessage === res
  ) {
    run(req, res);
    return;
  }
  if (lane === undefined) {
    lane = new Lane(socket, run);
    socket[kLane] = lane;
    socket.once("close", onLaneSocketClose);
  }
  // The answer that owns the socket may have started on the fast path, unwatched: watch it now.
  // Node sets _httpMessage (the answer or null) before every 'request'; undefined means this
  // Node has none: no request ever takes the fast path then, so every answer is watched here.
  const owner = socket._httpMessage as ResWithLane | null | undefined;
  if (owner === undefined) internalMissing("socket._httpMessage", "every answer watched (no fast path)");
  else if (owner !== null && owner !== res && owner[kLaneOfRes] === undefined && !owner.writableFinished)
    watch(lane, owner, runsAlone((owner as ServerResponse & { req?: IncomingMessage }).req));
  if (lane.inFlight === 0 || (lane.held.length === 0 && lane.unsafeInFlight === 0 && !runsAlone(req))) {
    start(lane, req, res);
    return;
  }
  lane.held.push(req, res);
  lane.arrived.push(performance.now());
  if (lane.held.length >= MAX_HELD * 2 && !lane.paused) {
    lane.paused = true;
    // Node's own flag: its parser stops after the bytes in hand, and a request body read
    // (readStart) does not restart the socket while it is set. Without it, pause() alone: a
    // body read may resume reading early, so the bound is looser, but nothing waits forever.
    if (typeof socket._paused === "boolean") socket._paused = true;
    else internalMissing("socket._paused", "socket.pause() alone");
    socket.pause();
  }
}

/** Requests waiting on `socket` (tests and the request timeout read it). */
export function heldOn(socket: unknown): number {
  const lane = (socket as WithLane | null)?.[kLane];
  return lane === undefined ? 0 : lane.held.length / 2;
}

function start(lane: Lane, req: IncomingMessage, res: ServerResponse, queuedMs = 0): void {
  watch(lane, res as ResWithLane, runsAlone(req));
  lane.run(req, res, queuedMs);
}

/** Counts `res` in flight on `lane` until it closes. */
function watch(lane: Lane, res: ResWithLane, unsafe: boolean): void {
  lane.inFlight++;
  if (unsafe) lane.unsafeInFlight++;
  res[kLaneOfRes] = lane;
  res[kUnsafe] = unsafe;
  lane.watched.add(res);
  res.once("close", onAnswerClosed);
}

function onAnswerClosed(this: ResWithLane): void {
  const lane = this[kLaneOfRes];
  if (lane === undefined) return;
  this[kLaneOfRes] = undefined;
  lane.watched.delete(this);
  lane.inFlight--;
  if (this[kUnsafe] === true) lane.unsafeInFlight--;
  if (lane.held.length > 0) release(lane);
}

/**
 * The connection closed. Node hands its socket to a pipelined request's answer only once the
 * answers before it are written whole, and never tells one still queued that the connection is
 * gone: that answer never emitted 'close', so its request never ended (in flight until the
 * process exit, holding its context and its edge step list node, and a shutdown waited the whole
 * drain timeout for it: 235 of 10,000 requests in test/proxy/edge-step-churn.test.ts).
 * Each is destroyed and closed here, as a client gone before its answer.
 */
function onLaneSocketClose(this: WithLane): void {
  const lane = this[kLane];
  if (lane === undefined) return;
  for (const res of [...lane.watched]) {
    if (res.socket !== null && res.socket !== undefined) continue;
    res.destroy();
    res.emit("close");
  }
}

function release(lane: Lane): void {
  const socket = lane.socket as WithLane;
  // Closed, or closing after the answer just done (an HTTP/1.0 one without a length): what
  // waits is dropped, never run upstream (as bytes after a `Connection: close` request are not).
  if (socket.destroyed || socket.writableEnded) {
    lane.held.length = 0;
    lane.arrived.length = 0;
    return;
  }
  const held = lane.held;
  let at = 0;
  while (at < held.length) {
    const req = held[at] as IncomingMessage;
    const ok = lane.inFlight === 0 || (lane.unsafeInFlight === 0 && !runsAlone(req));
    if (!ok) break;
    at += 2;
    start(lane, req, held[at - 1] as ServerResponse, performance.now() - lane.arrived[at / 2 - 1]);
  }
  if (at > 0) {
    held.splice(0, at);
    lane.arrived.splice(0, at / 2);
  }
  if (lane.paused && held.length < MAX_HELD * 2) {
    lane.paused = false;
    if (typeof socket._paused === "boolean") socket._paused = false;
    const parser = socket.parser;
    if (typeof parser?.resume === "function") parser.resume();
    else if (parser === undefined) internalMissing("socket.parser", "socket.resume() alone");
    socket.resume();
  }
}
