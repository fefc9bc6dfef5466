// Upstream sockets whose failed write waits for what the upstream sent before it went. An
// upstream may answer before it reads the request body (a 413 for an upload too large, a
// handler that never reads) and close with body bytes unread: its kernel then resets the
// connection, and shardgate's next body write fails with EPIPE or ECONNRESET. Node destroys a
// socket on a write error at once, and marks its readable side errored first, so the complete
// response sitting in the receive buffer was never parsed: the client got 502 upstream_reset
// for an answer shardgate had received whole (some of the time: when the read came first, the
// answer went through). nginx and Envoy relay such a response.
//
// Here a write that failed because the peer is gone holds its callback: the socket reads on
// (the response, then EOF or the reset as a read error, which end the socket as before: the
// HTTP clients destroy it then), and the write error is released only if the socket is still
// open LINGER_MS later. While the write is held the Writable buffers later writes (one write
// is in flight at a time), so nothing more goes out and the body's pipe sees backpressure.
// Cost: one bound function per connection; a write costs one property store.

import type { Socket } from "node:net";
import { Socket as NetSocket } from "node:net";

type WriteCallback = (err?: Error | null) => void;
type WriteGeneric = (
  this: Socket,
  writev: boolean,
  data: unknown,
  encoding: string,
  cb: WriteCallback,
) => unknown;

const kCallback = Symbol("shardgate.writeCallback");
const kOnWrite = Symbol("shardgate.onWrite");

interface Held {
  _writeGeneric: WriteGeneric;
  [kCallback]: WriteCallback | null;
  [kOnWrite]: WriteCallback;
}
type HeldSocket = Socket & Held;

// net.Socket's internal write entry (used by _write and _writev); not in @types/node.
const baseWriteGeneric = (NetSocket.prototype as unknown as Held)._writeGeneric;

/** How long a failed write waits for the socket to end on its read side before it fails it. */
export const LINGER_MS = 5_000;

function writeGeneric(
  this: HeldSocket,
  writev: boolean,
  data: unknown,
  encoding: string,
  cb: WriteCallback,
): unknown {
  const own = this[kOnWrite];
  // A write queued before the connect completes comes back here with our callback.
  if (cb !== own) this[kCallback] = cb;
  return baseWriteGeneric.call(this, writev, data, encoding, own);
}

function onWrite(this: HeldSocket, err?: Error | null): void {
  const cb = this[kCallback];
  this[kCallback] = null;
  if (cb === null) return;
  if (err != null && peerGone(err) && !this.destroyed && this.readable) {
    hold(this, cb, err);
    return;
  }
  cb(err);
}

function peerGone(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "EPIPE" || code === "ECONNRESET";
}

/** Error path only: the socket reads on; its close (or LINGER_MS) ends the wait. */
function hold(socket: HeldSocket, cb: WriteCallback, err: Error): void {
  const timer = setTimeout(release, LINGER_MS, socket, cb, err);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

function release(socket: HeldSocket, cb: WriteCallback, err: Error): void {
  if (!socket.destroyed) cb(err);
}

/** Makes `socket`'s write errors from a gone peer wait for its read side (see the top of this file). */
export function readBeforeWriteError<S extends Socket>(socket: S): S {
  // An internal of net.Socket (Node 20): a runtime without it keeps Node's own behaviour.
  if (typeof baseWriteGeneric !== "function") return socket;
  const s = socket as unknown as HeldSocket;
  s[kCallback] = null;
  s[kOnWrite] = onWrite.bind(s);
  s._writeGeneric = writeGeneric as WriteGeneric;
  return socket;
}
