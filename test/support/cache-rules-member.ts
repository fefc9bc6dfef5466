// A real HTTP member for the shared-cache tries from the outside (test/outside/cache-*.test.ts):
// every answer is cacheable for a minute (`max-age=60`) and carries an ETag and a Last-Modified,
// and its body names what the member was asked (method, Host, target) and how many requests it
// had answered, so a test can tell whose answer a client was given and whether it is a stored one.
// A request carrying If-None-Match with the ETag is answered 304, as a validating origin would.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const MEMBER_ETAG = '"v1"';
export const MEMBER_LAST_MODIFIED = "Mon, 07 Dec 2026 00:00:00 GMT";

export class CacheRulesMember {
  /** Every request head, as "METHOD host target". */
  readonly asked: string[] = [];
  port = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const line = `${req.method} ${req.headers.host ?? ""} ${req.url ?? ""}`;
      this.asked.push(line);
      res.setHeader("cache-control", "max-age=60");
      res.setHeader("etag", MEMBER_ETAG);
      res.setHeader("last-modified", MEMBER_LAST_MODIFIED);
      res.setHeader("content-type", "text/plain");
      if (req.headers["if-none-match"] === MEMBER_ETAG) {
        res.statusCode = 304;
        res.end();
        return;
      }
      res.end(`${line} #${this.asked.length}`);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** How many requests the member was sent for `target`. */
  count(target: string): number {
    return this.asked.filter((l) => l.endsWith(` ${target}`)).length;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
