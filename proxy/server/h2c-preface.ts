// h2c with prior knowledge on the plain port: a client that knows the port speaks HTTP/2
// opens with the 24-byte connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113
// section 3.4). The first bytes of each accepted socket are compared with it: at the first
// byte that differs (for HTTP/1.1 that is the first byte, "G" of GET against "P") the socket
// goes to Node's HTTP/1 parser, and the whole preface sends it to the HTTP/2 session factory.
// The bytes read go back with unshift; an HTTP/2 session reads them from the socket's buffer
// on its next tick, so that socket is not resumed here (resuming would emit them to nobody).
//
// Installed as the server's 'connection' listener before the PROXY protocol one, which then
// calls this after consuming its header: PROXY v1/v2 + h2c works with no special case.

import type { Server } from "node:http";
import type { Http2Server } from "node:http2";
import type { Socket } from "node:net";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

type Listener = (this: Server, socket: Socket) => void;

/**
 * When a listener in front of this one (the PROXY protocol acceptor) accepted the socket
 * (performance.now()): the headers timeout is one budget from accept, not one per layer.
 */
export const ACCEPTED_AT: unique symbol = Symbol("shardgate.acceptedAt");
type Accepted = Socket & { [ACCEPTED_AT]?: number };

/** How many leading bytes of `buf` match the preface; -1 at the first mismatch. */
export function prefaceMatch(buf: Buffer): number {
  const n = Math.min(buf.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PREFACE[i]) return -1;
  return n;
}

export const PREFACE_LENGTH = PREFACE.length;

export function sniffH2cPreface(server: Server, h2: Http2Server, timeoutMs: number): void {
  const inner = server.listeners("connection") as Listener[];
  server.removeAllListeners("connection");
  const toHttp1 = (socket: Socket): void => {
    for (const l of inner) l.call(server, socket);
  };
  server.on("connection", (socket: Socket) => {
    let received: Buffer | null = null;
    let settled = false;
    // Nothing (or part of a preface) by the headers timeout: the client had its whole header
    // budget, so it gets the 408 HTTP/1.1 would give (the 'clientError' answer), now. Handing
    // the socket to HTTP/1.1 instead started a second headers timeout: a silent client was
    // answered after twice the documented time. The check runs after the poll phase
    // (setImmediate), so bytes merely queued behind a busy event loop are read first.
    const expire = (): void => {
      if (settled) return;
      done();
      const err: NodeJS.ErrnoException = new Error("no request before the headers timeout");
      err.code = "ERR_HTTP_REQUEST_TIMEOUT";
      server.emit("clientError", err, socket);
    };
    const since = (socket as Accepted)[ACCEPTED_AT];
    const left = since === undefined ? timeoutMs : Math.max(0, timeoutMs - (performance.now() - since));
    const timer = setTimeout(() => setImmediate(expire), left);
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("end", onEnd);
      socket.off("error", noop);
    };
    const onData = (chunk: Buffer): void => {
      received = received === null ? chunk : Buffer.concat([received, chunk]);
      const m = prefaceMatch(received);
      if (m >= 0 && m < PREFACE_LENGTH) return; // a prefix of the preface so far
      done();
      socket.pause();
      socket.unshift(received);
      if (m < 0) {
        toHttp1(socket);
        socket.resume();
      } else h2.emit("connection", socket);
    };
    const onClose = (): void => {
      settled = true;
      clearTimeout(timer);
    };
    // The client closed its side before a request began: nothing can come any more, so the
    // socket is closed now instead of holding a connection slot until the headers timeout
    // (the server is allowHalfOpen, so its end alone never closes it).
    const onEnd = (): void => {
      if (settled) return;
      done();
      socket.destroy();
    };
    socket.on("error", noop);
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("end", onEnd);
  });
}

function noop(): void {}
