// An h2c upstream for the slow-party tries (test/outside/h2-*): it records, for every stream,
// how many bytes it pushed and took, and how the stream ended (the RST_STREAM code it got), so
// a test can tell flow control, cancellation and deadlines apart from the outside. Paths:
//   /firehose/N  answers gRPC-shaped 200 and writes N bytes as fast as its stream window allows
//   /sink        reads none of the request body (its window stays closed) until release(),
//                then reads it all and answers 200 with the byte count
//   /hold        answers 200 and one gRPC message, then holds the stream open until reset
//   /slow        never answers (a call that outlives any deadline)
//   /reset       answers 200 and one message, then resets the stream (INTERNAL_ERROR)
//   /reset-early reads no body, answers nothing, and resets the stream (INTERNAL_ERROR) after 300 ms
//   /quick/MS    answers one gRPC message and grpc-status 0 after MS milliseconds
//   /no-status   answers 200 and one gRPC message, then ends the stream cleanly with no trailers
//                (no grpc-status): Node's stream.close(NO_ERROR) on a stream still writable
// The server's SETTINGS_MAX_CONCURRENT_STREAMS is `maxStreams`; `maxOpen` is the most streams
// it ever had open at once (`maxOpenPerSession`: on one session); `sessions` counts the HTTP/2
// sessions it accepted.

import { constants, createServer, type Http2Session, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { trackH2Sessions } from "./tracked-connections.js";

export const GRPC_HEAD = { ":status": 200, "content-type": "application/grpc" };
/** One length-prefixed gRPC message (2 bytes of payload). */
export const GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 2, 8, 1]);

export interface FlowStream {
  path: string;
  /** Bytes handed to the stream's write (accepted once its window let them go). */
  pushed: number;
  /** Request body bytes read (/sink's stay 0 until release()). */
  took: number;
  /** The RST_STREAM code the stream closed with (0 for a clean end); -1 while open. */
  rstCode: number;
  closedAt: number;
}

export interface FlowUpstream {
  port: number;
  streams: FlowStream[];
  open: number;
  maxOpen: number;
  /** The most streams one session had open at once. */
  maxOpenPerSession: number;
  /** HTTP/2 sessions (connections) accepted so far. */
  sessions: number;
  /** Of those, the ones still open. */
  liveSessions: number;
  /** /sink streams read their bodies from now on. */
  release(): void;
  close(): Promise<void>;
}

const kOpen = Symbol("open streams on this session");

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export async function startFlowUpstream(maxStreams = 100): Promise<FlowUpstream> {
  const server = createServer({ settings: { maxConcurrentStreams: maxStreams } });
  const sinks: Array<() => void> = [];
  const up: FlowUpstream = {
    port: 0,
    streams: [],
    open: 0,
    maxOpen: 0,
    maxOpenPerSession: 0,
    sessions: 0,
    liveSessions: 0,
    release: () => {
      for (const go of sinks.splice(0)) go();
    },
    close: trackH2Sessions(server, (s) => {
      up.sessions++;
      up.liveSessions++;
      s.on("close", () => {
        up.liveSessions--;
      });
    }),
  };
  server.on("stream", (stream: ServerHttp2Stream, headers) => {
    const rec: FlowStream = { path: String(headers[":path"]), pushed: 0, took: 0, rstCode: -1, closedAt: -1 };
    up.streams.push(rec);
    up.open++;
    up.maxOpen = Math.max(up.maxOpen, up.open);
    const on = stream.session as (Http2Session & { [kOpen]?: number }) | undefined;
    if (on !== undefined) {
      on[kOpen] = (on[kOpen] ?? 0) + 1;
      up.maxOpenPerSession = Math.max(up.maxOpenPerSession, on[kOpen]);
    }
    stream.on("error", () => undefined);
    stream.on("close", () => {
      up.open--;
      if (on !== undefined) on[kOpen] = (on[kOpen] ?? 1) - 1;
      rec.rstCode = stream.rstCode ?? 0;
      rec.closedAt = performance.now();
    });
    const path = rec.path;
    if (path === "/sink") {
      stream.pause();
      sinks.push(() => {
        stream.on("data", (c: Buffer) => {
          rec.took += c.length;
        });
        stream.on("end", () => {
          if (stream.destroyed) return;
          stream.respond({ ":status": 200 });
          stream.end(String(rec.took));
        });
        stream.resume();
      });
      return;
    }
    stream.on("data", (c: Buffer) => {
      rec.took += c.length;
    });
    if (path.startsWith("/firehose/")) firehose(stream, rec, Number(path.slice(10)));
    else if (path === "/hold") {
      stream.respond(GRPC_HEAD);
      stream.write(GRPC_MESSAGE);
    } else if (path === "/reset") {
      stream.respond(GRPC_HEAD);
      // destroy(err) sends RST_STREAM INTERNAL_ERROR; close(code) on a stream whose writable side is
      // open sends END_STREAM and RST_STREAM NO_ERROR instead (Node 20), a clean end.
      stream.write(GRPC_MESSAGE, () => setTimeout(() => stream.destroy(new Error("member reset")), 50));
    } else if (path === "/reset-early") {
      stream.pause();
      const t = setTimeout(() => stream.destroy(new Error("member reset")), 300);
      stream.on("close", () => clearTimeout(t));
    } else if (path === "/no-status") {
      stream.respond(GRPC_HEAD);
      stream.write(GRPC_MESSAGE, () => stream.close(constants.NGHTTP2_NO_ERROR));
    } else if (path.startsWith("/quick/")) {
      const t = setTimeout(
        () => {
          if (stream.destroyed) return;
          stream.respond(GRPC_HEAD, { waitForTrailers: true });
          stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(GRPC_MESSAGE);
        },
        Number(path.slice(7)),
      );
      stream.on("close", () => clearTimeout(t));
    }
    // /slow: nothing, ever.
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  up.port = (server.address() as AddressInfo).port;
  return up;
}

/** Writes `total` bytes as fast as the stream takes them (write until false, then wait for drain). */
function firehose(stream: ServerHttp2Stream, rec: FlowStream, total: number): void {
  stream.respond(GRPC_HEAD);
  const pump = (): void => {
    while (rec.pushed < total && !stream.destroyed) {
      const n = Math.min(CHUNK.length, total - rec.pushed);
      rec.pushed += n;
      if (!stream.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        stream.once("drain", pump);
        return;
      }
    }
    if (!stream.destroyed) stream.end();
  };
  pump();
}
