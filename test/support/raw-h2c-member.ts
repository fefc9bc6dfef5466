// A raw h2c member for tests of what a member may send that no well-behaved HTTP/2 server would:
// it sends its (empty) SETTINGS and never acknowledges ours (so nghttp2 does not yet hold it to
// our header list limit), reads only HEADERS frames, and answers each with the frames the test
// gives for that stream.

import { createServer, type Server, type Socket } from "node:net";
import { frame } from "./h2-frames.js";

/** `:status 200` and `x-ok: 1` (literal without indexing). */
export const SMALL_HEAD = Buffer.concat([
  Buffer.from([0x88, 0x00, 4]),
  Buffer.from("x-ok"),
  Buffer.from([1]),
  Buffer.from("1"),
]);

/** The frames of a small whole answer on `stream`: SMALL_HEAD and a 2-byte body "ok". */
export function smallAnswer(stream: number): Buffer {
  return Buffer.concat([frame(1, 0x4, stream, SMALL_HEAD), frame(0, 0x1, stream, Buffer.from("ok"))]);
}

export interface RawH2cMember {
  readonly port: number;
  /** Connections (HTTP/2 sessions) the member accepted. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts the member on 127.0.0.1; `answer(stream, nth)` gives the frames for the nth request (0-based). */
export async function startRawH2cMember(
  answer: (stream: number, nth: number) => Buffer,
): Promise<RawH2cMember> {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    let pending = Buffer.alloc(0);
    let preface = false;
    s.write(frame(4, 0, 0));
    s.on("data", (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      if (!preface) {
        if (pending.length < 24) return;
        pending = pending.subarray(24);
        preface = true;
      }
      while (pending.length >= 9) {
        const len = pending.readUIntBE(0, 3);
        if (pending.length < 9 + len) break;
        const type = pending[3];
        const stream = pending.readUInt32BE(5) & 0x7fffffff;
        pending = pending.subarray(9 + len);
        if (type !== 1) continue; // HEADERS opens a request; the rest is ignored
        s.write(answer(stream, requests++));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get connections() {
      return connections;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
