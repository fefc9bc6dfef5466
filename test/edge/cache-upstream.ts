// A real HTTP upstream whose caching headers are chosen by path, for the shared-cache tests:
// /static/<kind>/<name> answers with the headers of <kind> and a body naming the path and
// how many times it was asked, so a test can tell a cached answer from a fresh one.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export class CacheUpstream {
  readonly hits = new Map<string, number>();
  /** Requests outside /static/ are answered {member: id} (an echo for affinity checks). */
  constructor(readonly id = "origin") {
    this.server = createServer((req, res) => this.onRequest(req, res));
  }
  private server: Server;
  port = 0;

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  count(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  total(): number {
    let n = 0;
    for (const v of this.hits.values()) n += v;
    return n;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "").split("?")[0];
    const n = (this.hits.get(path) ?? 0) + 1;
    this.hits.set(path, n);
    if (!path.startsWith("/static/")) {
      const body = JSON.stringify({ member: this.id, path });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const kind = path.split("/")[2] ?? "";
    const headers: Record<string, string | string[]> = { "content-type": "text/plain" };
    let body = `${path} #${n}`;
    let delay = 0;
    switch (kind) {
      case "public":
        headers["cache-control"] = "public, max-age=60";
        break;
      case "maxage":
        headers["cache-control"] = "max-age=60";
        break;
      case "private":
        headers["cache-control"] = "private, max-age=60";
        break;
      case "nostore":
        headers["cache-control"] = "no-store";
        break;
      case "none":
        break;
      case "cookie":
        headers["cache-control"] = "public, max-age=60";
        headers["set-cookie"] = "a=b";
        break;
      case "smaxage":
        headers["cache-control"] = "s-maxage=60";
        break;
      case "vary":
        headers["cache-control"] = "public, max-age=60";
        headers.vary = "Accept-Language";
        body += ` lang=${req.headers["accept-language"] ?? ""}`;
        break;
      case "aged":
        headers["cache-control"] = "public, max-age=600";
        headers.age = "100";
        break;
      case "short":
        headers["cache-control"] = "public, max-age=1";
        break;
      case "big":
        headers["cache-control"] = "public, max-age=60";
        body = "x".repeat(4096);
        break;
      case "slow":
        headers["cache-control"] = "public, max-age=60";
        delay = 400;
        break;
      default:
        res.writeHead(404).end();
        return;
    }
    const send = () => {
      res.writeHead(200, headers);
      res.end(body);
    };
    if (delay > 0) setTimeout(send, delay);
    else send();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
