// A real HTTP member for the shared-cache tries from the outside (test/outside/cache-*.test.ts):
// every answer is cacheable for a minute (`max-age=60`) and carries an ETag and a Last-Modified,
// and its body names what the member was asked (method, Host, target) and how many requests it
// had answered and the scheme it was told (X-Forwarded-Proto), so a test can tell whose answer a
// client was given and whether it is a stored one. A request carrying If-None-Match with the ETag
// is answered 304, and one whose If-Match or If-Unmodified-Since fails 412, as an origin would.

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const MEMBER_ETAG = '"v1"';
export const MEMBER_LAST_MODIFIED = "Mon, 07 Dec 2026 00:00:00 GMT";

/** RFC 9110 13.2.2 steps 1 and 2 for the member's one representation: If-Match (strong), else If-Unmodified-Since. */
function preconditionFails(h: IncomingHttpHeaders): boolean {
  const ifMatch = h["if-match"];
  if (ifMatch !== undefined) {
    if (ifMatch.trim() === "*") return false;
    return !ifMatch.split(",").some((t) => t.trim() === MEMBER_ETAG);
  }
  const since = Date.parse(h["if-unmodified-since"] ?? "");
  return Number.isFinite(since) && Date.parse(MEMBER_LAST_MODIFIED) > since;
}

export class CacheRulesMember {
  /** Every request head, as "METHOD host target". */
  readonly asked: string[] = [];
  /** The header fields of the last request for each target, for a test that checks what the member was told. */
  readonly lastHeaders = new Map<string, IncomingHttpHeaders>();
  port = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const line = `${req.method} ${req.headers.host ?? ""} ${req.url ?? ""}`;
      this.asked.push(line);
      this.lastHeaders.set(req.url ?? "", req.headers);
      res.setHeader("cache-control", "max-age=60");
      res.setHeader("etag", MEMBER_ETAG);
      res.setHeader("last-modified", MEMBER_LAST_MODIFIED);
      res.setHeader("content-type", "text/plain");
      if (preconditionFails(req.headers)) {
        res.statusCode = 412;
        res.end();
        return;
      }
      if (req.headers["if-none-match"] === MEMBER_ETAG) {
        res.statusCode = 304;
        res.end();
        return;
      }
      res.end(`${line} #${this.asked.length} proto=${req.headers["x-forwarded-proto"] ?? ""}`);
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
