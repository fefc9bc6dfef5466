// A real HTTP upstream on an ephemeral loopback port answering every request with one fixed body,
// cacheable (public, max-age=300), with its content-length: what a cached route stores whole.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface CacheableBodyUpstream {
  port: number;
  close(): void;
}

export async function startCacheableBodyUpstream(body: Buffer): Promise<CacheableBodyUpstream> {
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "cache-control": "public, max-age=300",
      "content-length": body.length,
    });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
