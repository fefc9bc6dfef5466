// A bound on the open connections of one listener (HAProxy's `maxconn`, nginx's
// `worker_connections`): without it every idle or trickling socket costs memory and a file
// descriptor and nothing refuses the next one (8,000 idle sockets held ~36 MB of one process).
//
// The gate sits in front of the server's own 'connection' listeners (HTTP parser, TLS, the h2c
// sniff, the PROXY header), so a refused socket never reaches a parser: no request on it is
// ever handled. A refused connection gets a coded 503 `too_many_connections` (plain ports; a
// TLS port cannot answer before its handshake, so it is closed) and is closed.
//
// `reclaimIdle` (the admin port, HTTP/1.1 only): at the cap, the oldest connection with no
// request in flight (an idle keep-alive client, or one still trickling its headers: a
// slowloris) is closed to make room, as nginx reuses idle keep-alive connections when it runs
// out. So a slowloris holding every slot cannot starve a probe of /readyz or a scrape of
// /metrics: the probe's connection takes the oldest trickler's slot. Only connections busy with
// a request the server is answering count against the cap for good. The data port does not
// reclaim: an HTTP/2 session or a TLS socket carries requests this gate cannot see, so its
// slowloris is ended by listen.timeouts.headers instead.

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { rawErrorResponse } from "../errors.js";
import { lingerClose } from "./linger-close.js";

export interface ConnectionCapOptions {
  /** Open connections allowed at once. */
  max: number;
  /** Close the oldest connection with no request in flight to admit a new one at the cap. */
  reclaimIdle: boolean;
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
}

type ConnectionListener = (this: Server, socket: Socket) => void;

/** Installs the cap on `server`. Call after every other 'connection' listener is attached. */
export function capConnections(server: Server, opts: ConnectionCapOptions): ConnectionCap {
  // socket -> requests in flight on it; a Map iterates in insertion order: oldest first.
  const open = new Map<Socket, number>();
  const inner = server.listeners("connection") as ConnectionListener[];
  server.removeAllListeners("connection");

  function reclaimOne(): boolean {
    for (const [socket, inFlight] of open) {
      if (inFlight > 0) continue;
      open.delete(socket);
      socket.destroy();
      opts.onReclaimed?.();
      return true;
    }
    return false;
  }

  server.on("connection", function gate(this: Server, socket: Socket) {
    if (open.size >= opts.max && !(opts.reclaimIdle && reclaimOne())) {
      refuse(socket, opts.tls);
      opts.onRefused?.();
      return;
    }
    open.set(socket, 0);
    socket.once("close", () => open.delete(socket));
    for (const listener of inner) listener.call(this, socket);
  });

  if (opts.reclaimIdle) {
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      const n = open.get(socket);
      if (n === undefined) return;
      open.set(socket, n + 1);
      res.once("close", () => {
        const m = open.get(socket);
        if (m !== undefined) open.set(socket, m - 1);
      });
    });
  }
  return { open: () => open.size };
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
