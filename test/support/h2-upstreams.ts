// HTTP/2 echo upstreams for tests of `protocol: h2c | h2` pools: each answers JSON with its
// member id, method, path, headers and body, and a trailer `x-echo-trailer`. Modes: delay the
// head (response timeouts), send a GOAWAY after each answer (session replacement).

import { readFileSync } from "node:fs";
import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { trackH2Sessions } from "./tracked-connections.js";

export interface H2Upstream {
  id: string;
  port: number;
  requests: number;
  sessions: number;
  mode: { delayHeadMs?: number; goawayAfter?: boolean };
  close(): Promise<void>;
}

export async function startH2Upstream(
  id: string,
  tls?: { certFile: string; keyFile: string },
): Promise<H2Upstream> {
  const server: Http2Server | Http2SecureServer =
    tls === undefined
      ? createServer()
      : createSecureServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) });
  const up: H2Upstream = {
    id,
    port: 0,
    requests: 0,
    sessions: 0,
    mode: {},
    close: trackH2Sessions(server, () => {
      up.sessions++;
    }),
  };
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    up.requests++;
    const session = stream.session;
    stream.on("error", () => undefined);
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const answer = (): void => {
        if (stream.destroyed) return;
        const body = JSON.stringify({
          member: id,
          method: headers[":method"],
          path: headers[":path"],
          headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
        stream.respond({ ":status": 200, "content-type": "application/json" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "x-echo-trailer": id }));
        stream.end(body);
        if (up.mode.goawayAfter === true) stream.on("close", () => session?.close());
      };
      if (up.mode.delayHeadMs !== undefined) setTimeout(answer, up.mode.delayHeadMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  up.port = (server.address() as AddressInfo).port;
  return up;
}
