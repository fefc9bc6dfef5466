// One HTTP/1.1 request with node:http to a port on 127.0.0.1, its body read whole as UTF-8: for
// tests that write heads fetch would not (a Host of their own, a conditional HEAD) and judge the
// status, a few header fields and the text. Bounded: no answer within 10 s (scaled) rejects.

import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from "node:http";
import { scaled } from "./wait.js";

export interface TextRequest {
  path: string;
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** false: no Host of node's; the test's `headers.host` is the one sent. */
  setHost?: boolean;
  /** Names the request in the timeout's error (default: the path). */
  what?: string;
}

export interface TextAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function textRequest(port: number, r: TextRequest): Promise<TextAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: r.path,
        method: r.method ?? "GET",
        headers: r.headers,
        setHost: r.setHost,
        timeout: scaled(10_000),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer for ${r.what ?? r.path}`)));
    req.on("error", reject);
    req.end();
  });
}
