// A tiny built-in upstream for `shardgate demo` and the benchmark: answers every request with
// JSON naming the member it is, so a user can see which member a key is routed to. /health
// answers 200 for active health checks; paths under /cache/ are marked shareable for an hour
// (the benchmark's cache-hit row). No outside services needed.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface EchoUpstream {
  readonly id: string;
  readonly server: Server;
  /** "127.0.0.1:PORT" */
  readonly address: string;
  close(): Promise<void>;
}

/** Starts an echo upstream named `id` on host:port (port 0 = any free port). */
export function startEchoUpstream(id: string, host = "127.0.0.1", port = 0): Promise<EchoUpstream> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // Drain the request body so keep-alive connections stay reusable.
    req.resume();
    req.on("end", () => {
      if (req.url === "/health") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("ok\n");
        return;
      }
      const body = `${JSON.stringify({
        member: id,
        method: req.method,
        url: req.url,
        userId: req.headers["x-user-id"] ?? null,
        requestId: req.headers["x-request-id"] ?? null,
      })}\n`;
      const headers: Record<string, string | number> = {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      };
      if (req.url?.startsWith("/cache/")) headers["cache-control"] = "public, max-age=3600";
      res.writeHead(200, headers);
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      resolve({
        id,
        server,
        address: `${a.address}:${a.port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
