// h2c members that never process a stream, or process part of one, for the retry tries
// (test/outside/h2-unprocessed-retry.test.ts). Modes:
//   refuse      node:http2; every stream is closed at once with RST_STREAM REFUSED_STREAM
//               (RFC 9113 section 8.7: the request was not processed)
//   goaway      a plain socket speaking just enough HTTP/2 (SETTINGS both ways): every HEADERS
//               frame is answered GOAWAY(NO_ERROR, last-stream-id 0), so the stream is above the
//               GOAWAY's last-stream-id on every session (node:http2's goaway() reads a
//               last-stream-id of 0 as "the last one processed", so it cannot refuse stream 1)
//   read-reset  node:http2; reads one DATA frame of the request, then resets the stream
//               INTERNAL_ERROR: the member did get (part of) the request
// `streams` counts the streams (HEADERS) the member saw, `sessions` the connections.

import { constants, createServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { frame } from "./h2-frames.js";
import { closeWithConnections, trackH2Sessions } from "./tracked-connections.js";

export type RefusingMode = "refuse" | "goaway" | "read-reset";

export interface RefusingUpstream {
  port: number;
  streams: number;
  sessions: number;
  /** read-reset: request body bytes read before the reset. */
  took: number;
  close(): Promise<void>;
}

const PREFACE_LENGTH = 24;
const SETTINGS = 0x4;
const HEADERS = 0x1;
const GOAWAY = 0x7;

function blankUpstream(close: () => Promise<void>): RefusingUpstream {
  return { port: 0, streams: 0, sessions: 0, took: 0, close };
}

export async function startRefusingUpstream(mode: RefusingMode): Promise<RefusingUpstream> {
  return mode === "goaway" ? startGoawayUpstream() : startNodeUpstream(mode);
}

async function startNodeUpstream(mode: "refuse" | "read-reset"): Promise<RefusingUpstream> {
  const server = createServer();
  const up: RefusingUpstream = blankUpstream(
    trackH2Sessions(server, () => {
      up.sessions++;
    }),
  );
  server.on("stream", (stream: ServerHttp2Stream) => {
    up.streams++;
    stream.on("error", () => undefined);
    if (mode === "refuse") {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    stream.once("data", (c: Buffer) => {
      up.took += c.length;
      stream.pause();
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  up.port = (server.address() as AddressInfo).port;
  return up;
}

async function startGoawayUpstream(): Promise<RefusingUpstream> {
  const sockets = new Set<Socket>();
  const server: Server = createTcpServer((socket) => {
    up.sessions++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    // Our SETTINGS (none changed), then theirs are acknowledged as they come.
    socket.write(frame(SETTINGS, 0, 0));
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!prefaceSeen) {
        if (buf.length < PREFACE_LENGTH) return;
        buf = buf.subarray(PREFACE_LENGTH);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < 9 + length) return;
        const type = buf[3];
        const flags = buf[4];
        buf = buf.subarray(9 + length);
        if (type === SETTINGS && (flags & 0x1) === 0) socket.write(frame(SETTINGS, 0x1, 0));
        else if (type === HEADERS) {
          up.streams++;
          const payload = Buffer.alloc(8);
          payload.writeUInt32BE(0, 0); // last-stream-id: none processed
          payload.writeUInt32BE(constants.NGHTTP2_NO_ERROR, 4);
          socket.write(frame(GOAWAY, 0, 0, payload));
        }
      }
    });
  });
  const up: RefusingUpstream = blankUpstream(() => closeWithConnections(server, sockets));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  up.port = (server.address() as AddressInfo).port;
  return up;
}
