// An HTTP/1.1 upstream on loopback whose GET /bytes/N answers N bytes (Content-Length), written
// as the proxy takes them (backpressure respected), and which records what became of each
// request: answered in full, or cut before its end (and when). For the tests of clients that
// read slowly or not at all: the record says whether shardgate cancelled the upstream request.

import { createServer, type Server } from "node:http";

export interface BytesServed {
  path: string;
  startedAt: number;
  /** performance.now() when the upstream saw the request cut before its answer ended; -1 = not. */
  abortedAt: number;
  finished: boolean;
}

export interface BytesUpstream {
  server: Server;
  port: number;
  /** Every request seen, in arrival order. */
  served: BytesServed[];
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export async function startBytesUpstream(): Promise<BytesUpstream> {
  const served: BytesServed[] = [];
  const server = createServer((req, res) => {
    const total = Number(/^\/bytes\/(\d+)/.exec(req.url ?? "")?.[1] ?? 0);
    const rec: BytesServed = {
      path: req.url ?? "",
      startedAt: performance.now(),
      abortedAt: -1,
      finished: false,
    };
    served.push(rec);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": total });
    let sent = 0;
    res.on("finish", () => {
      rec.finished = true;
    });
    res.on("close", () => {
      if (!rec.finished) rec.abortedAt = performance.now();
    });
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(CHUNK.length, total - sent);
        sent += n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    server,
    port,
    served,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
