// A raw TCP upstream that answers each request head with a scripted byte sequence, chosen by
// the request path's first segment ("/bad_te/x" -> script "bad_te"; unknown paths -> "ok").
// For tests of misbehaving upstreams: the scripts write whatever bytes a broken server would,
// which no HTTP server library lets a test send. Request bodies are not expected.

import { createServer, type Server, type Socket } from "node:net";

export type Script = (socket: Socket) => void;

export interface ScriptedUpstream {
  readonly server: Server;
  readonly port: number;
  /** Each request head seen: its script name and the number of the connection it came on. */
  readonly seen: Array<{ path: string; conn: number }>;
  close(): Promise<void>;
}

export async function startScriptedUpstream(scripts: Record<string, Script>): Promise<ScriptedUpstream> {
  const seen: Array<{ path: string; conn: number }> = [];
  let conns = 0;
  const server = createServer((s) => {
    const conn = ++conns;
    let buf = "";
    s.on("error", () => {});
    s.on("data", (d) => {
      buf += d.toString("latin1");
      for (let i = buf.indexOf("\r\n\r\n"); i >= 0; i = buf.indexOf("\r\n\r\n")) {
        const path = /^\w+ \/(\w+)/.exec(buf.slice(0, i))?.[1] ?? "ok";
        buf = buf.slice(i + 4);
        seen.push({ path, conn });
        (scripts[path] ?? scripts.ok)(s);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    server,
    port: (server.address() as { port: number }).port,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
