// A healthy HTTP/1.1 member on loopback that closes every connection after its answer, so each
// request (or health probe) to it needs a fresh dial: what the descriptor and local-port
// shortage tests need to meet the shortage on every call.

import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface ClosingUpstream {
  port: number;
  close(): Promise<void>;
}

/**
 * Answers every request 200 "ok" with `connection: close`. With `declineUpgrades`, an upgrade
 * (WebSocket) is answered 403 and closed: the dial went through and the member said no.
 */
export async function startClosingUpstream(
  opts: { declineUpgrades?: boolean } = {},
): Promise<ClosingUpstream> {
  const server = createServer((_req, res) => {
    res.setHeader("connection", "close");
    res.end("ok");
  });
  if (opts.declineUpgrades === true)
    server.on("upgrade", (_req, socket: Socket) =>
      socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
    );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
