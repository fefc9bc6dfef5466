// A small HTTP/2 client for tests: one request on a (given or fresh) session, the whole reply.

import { type ClientHttp2Session, connect, type IncomingHttpHeaders } from "node:http2";

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are free-form JSON
  json: () => any;
}

/** One request on `session`; resolves with status, headers and the body text. */
export function h2Request(
  session: ClientHttp2Session,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": opts.method ?? "GET",
      ":path": opts.path ?? "/",
      ...opts.headers,
    });
    let head: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      head = h;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", reject);
    stream.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      resolve({ status: Number(head[":status"]), headers: head, text, json: () => JSON.parse(text) });
    });
    if (opts.body !== undefined) stream.end(opts.body);
    else stream.end();
  });
}

/** A connected session (h2c for http://, h2 by ALPN for https://); closes with the test. */
export async function h2Session(
  t: { after(fn: () => unknown): void },
  authority: string,
  options: { ca?: Buffer | string; servername?: string } = {},
): Promise<ClientHttp2Session> {
  const session = connect(authority, { ca: options.ca, servername: options.servername });
  t.after(() => session.destroy());
  // Ready once the server's SETTINGS arrived (its limits are then in remoteSettings).
  await new Promise<void>((resolve, reject) => {
    session.once("remoteSettings", () => resolve());
    session.once("error", reject);
  });
  session.on("error", () => undefined);
  return session;
}

/**
 * The status of one GET on a fresh session to `url` (h2c, or h2 over TLS trusting `ca` for
 * https://), read to its end; the session closed. The abuse tests' "and the next client is still
 * served" check. `headers` may name the :path (default /), as a test that finds the request's
 * access line by its path does.
 */
export function h2StatusOnce(
  url: string,
  headers: Record<string, string> = { "x-user-id": "after" },
  ca?: Buffer,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = connect(url, { ca });
    c.on("error", reject);
    const r = c.request({ ":path": "/", ...headers });
    r.on("response", (h) => {
      r.resume();
      r.on("end", () => {
        c.close();
        resolve(Number(h[":status"]));
      });
    });
    r.on("error", reject);
    r.end();
  });
}
