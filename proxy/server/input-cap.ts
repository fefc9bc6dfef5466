// A bound on what a closing connection may still read: the bytes are counted as each chunk is
// handed over (no timer between them: a loopback client sends over 1 GB in half a second), and
// the connection is destroyed as soon as the count passes the cap. One listener function for
// every connection, its state in one field: nothing is allocated per chunk.
//
// On a socket the HTTP server parses, adding a 'data' listener makes Node's server feed its
// parser from the socket's 'data' events instead of reading the socket natively (its own
// listener wrapper does that): the parser still sees every byte, and so does this count.

import type { Duplex, Readable } from "node:stream";

const kCap = Symbol("shardgate.inputCap");

interface CapState {
  /** Bytes still allowed before `socket` is destroyed. */
  left: number;
  socket: Duplex;
}

type Capped = Readable & { [kCap]?: CapState };

/**
 * Destroys `socket` once more than `max` bytes have arrived on `source` from now on (`source` is
 * the socket itself, or a request whose body comes off it). Calling it again on the same source
 * only lowers what is left. Does not resume `source`: the caller decides when it flows.
 */
export function destroyPastBytes(source: Readable, socket: Duplex, max: number): void {
  const s = source as Capped;
  const state = s[kCap];
  if (state !== undefined) {
    if (max < state.left) state.left = max;
    return;
  }
  s[kCap] = { left: max, socket };
  s.on("data", countChunk);
}

function countChunk(this: Capped, chunk: Buffer | string): void {
  const state = this[kCap];
  if (state === undefined) return;
  state.left -= chunk.length;
  if (state.left < 0 && !state.socket.destroyed) state.socket.destroy();
}
