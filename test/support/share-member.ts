// A member for the client share tests (test/outside/client-share-*.test.ts): a real HTTP/1.1
// server on 127.0.0.1 whose paths end a request in the ways that give a share slot back early or
// late (read whole, 2 MiB, reset before the head or mid-answer, 502, past a 300 ms response
// timeout, 150 ms), /hold (and /hold/wait) keeping each request until the test answers it, /hold/ok
// answering at once (a key probe on a pool routed by the /hold/ prefix), and a count of the
// requests not ended yet. Each answer names the member's port (x-port).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ShareMember {
  server: Server;
  port: number;
  /** Upstream requests not ended yet (their response closed or finished). */
  open: number;
  held: ServerResponse[];
}

export function startShareMember(): Promise<ShareMember> {
  const m: ShareMember = { server: createServer(), port: 0, open: 0, held: [] };
  m.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    m.open++;
    res.once("close", () => m.open--);
    res.setHeader("x-port", String(m.port));
    const path = (req.url ?? "/").split("?")[0];
    req.resume();
    req.once("end", () => answer(m, path, req, res));
  });
  return new Promise((resolve) =>
    m.server.listen(0, "127.0.0.1", () => {
      m.port = (m.server.address() as AddressInfo).port;
      resolve(m);
    }),
  );
}

function answer(m: ShareMember, path: string, req: IncomingMessage, res: ServerResponse): void {
  switch (path) {
    case "/ok":
      res.end("ok");
      return;
    case "/big":
      res.end(Buffer.alloc(2 * 1024 * 1024, 0x61));
      return;
    case "/reset":
      req.socket.destroy();
      return;
    case "/midreset":
      res.writeHead(200, { "content-length": String(1024 * 1024) });
      res.write(Buffer.alloc(64 * 1024, 0x62), () => setImmediate(() => req.socket.destroy()));
      return;
    case "/bad":
      res.statusCode = 502;
      res.end("bad");
      return;
    case "/late":
      // Past the pool's response timeout (300 ms): shardgate gives up and may retry.
      setTimeout(() => {
        if (!res.destroyed) res.end("late");
      }, 800).unref();
      return;
    case "/slowish":
      setTimeout(() => {
        if (!res.destroyed) res.end("slowish");
      }, 150).unref();
      return;
    case "/hold":
    case "/hold/wait":
      m.held.push(res);
      return;
    case "/hold/ok":
      res.end("ok");
      return;
    default:
      res.statusCode = 404;
      res.end();
  }
}

/** Answers what it holds and closes the server. */
export async function stopShareMember(m: ShareMember): Promise<void> {
  for (const res of m.held.splice(0)) res.end();
  m.server.closeAllConnections();
  await new Promise((r) => m.server.close(r));
}
