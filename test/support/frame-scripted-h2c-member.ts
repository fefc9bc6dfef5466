// A raw h2c member whose every frame the test scripts, for members that break HTTP/2 in ways no
// library server would (malformed frames, GOAWAY with a stream open). It sends its (empty)
// SETTINGS and, unless told not to, acknowledges shardgate's, so the session counts as fully
// open; it hands the test every frame, so an answer can wait for a request body's end.

import { createServer, type Server, type Socket } from "node:net";
import { frame } from "./h2-frames.js";

const PREFACE_LENGTH = 24;

/** A frame's header as the member received it (its payload is not kept). */
export interface ReceivedFrame {
  type: number;
  flags: number;
  stream: number;
}

/** Called once a connection, with its 0-based index; returns what to do with each frame on it. */
export type ConnectionScript = (nth: number, s: Socket) => (f: ReceivedFrame) => void;

export interface FrameScriptedH2cMember {
  readonly port: number;
  /** Connections (HTTP/2 sessions) the member accepted. */
  readonly connections: number;
  close(): Promise<void>;
}

/** HEADERS :status 200 (static table index 8), END_STREAM | END_HEADERS. */
export function okHeaders(stream: number): Buffer {
  return frame(1, 0x5, stream, Buffer.from([0x88]));
}

/**
 * Starts the member on 127.0.0.1. `ackSettings: false` leaves shardgate's SETTINGS unacknowledged:
 * until the ACK, nghttp2 does not hold the member to shardgate's header list limit.
 */
export async function startFrameScriptedH2cMember(
  script: ConnectionScript,
  { ackSettings = true }: { ackSettings?: boolean } = {},
): Promise<FrameScriptedH2cMember> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    const onFrame = script(connections++, s);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.write(frame(4, 0, 0));
    let buf = Buffer.alloc(0);
    let preface = false;
    s.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!preface) {
        if (buf.length < PREFACE_LENGTH) return;
        buf = buf.subarray(PREFACE_LENGTH);
        preface = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const received = { type: buf[3], flags: buf[4], stream: buf.readUInt32BE(5) & 0x7fffffff };
        if (ackSettings && received.type === 4 && (received.flags & 1) === 0) s.write(frame(4, 1, 0));
        onFrame(received);
        buf = buf.subarray(9 + len);
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
