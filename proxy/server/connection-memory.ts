// What the listener's open connections cost outside V8's accounting, for the overload guard
// (overload.ts), beside TLS's (tls-memory.ts). A plain socket's libuv handle and HTTP parser and
// an HTTP/2 session's nghttp2 state are allocated by C++ (malloc), neither V8's heap nor Buffers:
// they grow the RSS after the guard's first sample, and the guard saw none of it. Measured on
// Node 20 (RSS growth less V8's heap and external memory, 1,500 idle connections): ~7 KB per
// idle HTTP/1.1 keep-alive socket, ~19 KB per idle h2c session with its socket. Estimated per
// open connection rather than read, as TLS's is: once closed, the allocator keeps their pages
// (the RSS stayed 28 MB up after 1,500 sessions had gone), so counting the RSS growth itself
// would hold an episode open after its clients left. Set a little above the measured figures.

import { TLS_SOCKET_BYTES } from "./tls-memory.js";

/** Bytes per open plain (not TLS) socket of the listener. */
export const PLAIN_SOCKET_BYTES = 8 * 1024;
/** Bytes per open HTTP/2 session beyond its socket's (TLS or plain). */
export const H2_SESSION_BYTES = 12 * 1024;

/** The estimate for `sockets` open connections (TLS ones when `tls`), `h2Sessions` of them HTTP/2. */
export function connectionBytes(sockets: number, tls: boolean, h2Sessions: number): number {
  return sockets * (tls ? TLS_SOCKET_BYTES : PLAIN_SOCKET_BYTES) + h2Sessions * H2_SESSION_BYTES;
}
