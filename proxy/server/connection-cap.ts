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
// Bookkeeping per request is a field write and one shared listener (no closure per request).

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
}

export interface ConnectionCap {
  /** Connections admitted and still open. */
  open(): number;
  /** Of those, connections the cap may reclaim now (idle, as the mode defines it). */
  idle(): number;
  /** How long the longest-idle of them has been idle (ms); 0 when none is. */
  oldestIdleMs(): number;
}

interface Entry {
  socket: Socket;
  /** Requests being answered on it. */
  inFlight: number;
  /** Upgraded (websocket): the socket left the HTTP server; never reclaimed. */
  pinned: boolean;
  /** performance.now() when it last became idle. */
  idleSince: number;
}

const ENTRY = Symbol("shardgate.connectionCapEntry");
type Tagged = Duplex & { [ENTRY]?: Entry; _parent?: unknown };

type ConnectionListener = (this: Server, socket: Socket) => void;

/** Installs the cap on `server`. Call after every other 'connection' listener is attached. */
export function capConnections(server: Server, opts: ConnectionCapOptions): ConnectionCap {
  let open = 0;
  // Reclaimable connections; a Map iterates in insertion order and a connection is re-inserted
  // each time it becomes idle, so the first one is the one idle the longest.
  const idle = new Map<Socket, Entry>();
  const inner = server.listeners("connection") as ConnectionListener[];
  server.removeAllListeners("connection");

  function reclaimOne(): boolean {
    for (const [socket, entry] of idle) {
      idle.delete(socket);
      entry.pinned = true; // closing: never counted idle again
      socket.destroy();
      opts.onReclaimed?.();
      return true;
    }
    return false;
  }

  server.on("connection", function gate(this: Server, socket: Socket) {
    if (open >= opts.max && !reclaimOne()) {
      refuse(socket, opts.tls);
      opts.onRefused?.();
      return;
    }
    open++;
    const entry: Entry = { socket, inFlight: 0, pinned: false, idleSince: performance.now() };
    (socket as Tagged)[ENTRY] = entry;
    if (opts.reclaim === "no-request") idle.set(socket, entry);
    socket.once("close", () => {
      open--;
      entry.pinned = true;
      idle.delete(socket);
    });
    for (const listener of inner) listener.call(this, socket);
  });

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const entry = entryOf(req.socket);
    if (entry === undefined || entry.pinned) return;
    entry.inFlight++;
    idle.delete(entry.socket);
    res.once("close", requestDone);
  });
  server.on("upgrade", (req: IncomingMessage) => {
    const entry = entryOf(req.socket);
    if (entry === undefined) return;
    entry.pinned = true;
    idle.delete(entry.socket);
  });

  function requestDone(this: ServerResponse): void {
    const entry = entryOf(this.req.socket);
    if (entry === undefined) return;
    entry.inFlight--;
    if (entry.inFlight > 0 || entry.pinned || entry.socket.destroyed) return;
    entry.idleSince = performance.now();
    idle.set(entry.socket, entry);
  }

  return {
    open: () => open,
    idle: () => idle.size,
    oldestIdleMs: () => {
      for (const entry of idle.values()) return performance.now() - entry.idleSince;
      return 0;
    },
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
