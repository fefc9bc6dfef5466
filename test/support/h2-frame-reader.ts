// Reads what an HTTP/2 server sends on a raw socket opened by a test (h2-frames.ts writes the
// client's side): the first GOAWAY's error code, RST_STREAM codes by count, HEADERS and DATA
// received, PING ACKs, and when the socket closed. A server sends no preface: its bytes are
// frames from the first one (its SETTINGS).

import type { Socket } from "node:net";

export interface ServerFrames {
  /** The first GOAWAY's error code; -1 while none came. */
  goaway: number;
  /** RST_STREAM frames received, by error code. */
  rst: Map<number, number>;
  headers: number;
  dataBytes: number;
  pingAcks: number;
  /** Resolves when the socket closed (either side). */
  readonly closed: Promise<void>;
  isClosed: boolean;
}

/** Starts reading `s`'s frames; the socket's 'data' is consumed (the kernel buffer drains). */
export function readServerFrames(s: Socket): ServerFrames {
  let buf: Buffer = Buffer.alloc(0);
  let markClosed: () => void = () => {};
  const f: ServerFrames = {
    goaway: -1,
    rst: new Map(),
    headers: 0,
    dataBytes: 0,
    pingAcks: 0,
    closed: new Promise<void>((resolve) => {
      markClosed = resolve;
    }),
    isClosed: false,
  };
  s.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3];
      if (type === 7 && f.goaway === -1 && len >= 8) f.goaway = buf.readUInt32BE(9 + 4);
      if (type === 3 && len === 4) {
        const code = buf.readUInt32BE(9);
        f.rst.set(code, (f.rst.get(code) ?? 0) + 1);
      }
      if (type === 1) f.headers++;
      if (type === 0) f.dataBytes += len;
      if (type === 6 && (buf[4] & 1) === 1) f.pingAcks++;
      buf = buf.subarray(9 + len);
    }
  });
  s.on("close", () => {
    f.isClosed = true;
    markClosed();
  });
  return f;
}
