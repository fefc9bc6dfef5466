// An HTTP/2 request as the data plane reads it. Node's compatibility request keeps the
// pseudo-headers (:method, :path, :authority, :scheme) in `headers`, where an HTTP/1.1
// upstream (or undici) would take them for header names; its own getters (method, url,
// authority) read a private copy. So the request gets its own `headers`: the regular fields
// only, with Host from :authority (RFC 9113 section 8.3.1) when the client sent no Host.
// A request body of unknown length is marked chunked, as HTTP/1.1 would frame it.
// One object per h2 request: the copy every HTTP/2-to-HTTP/1.1 proxy makes.

import type { IncomingHttpHeaders } from "node:http";
import type { Http2ServerRequest } from "node:http2";

export function adaptH2Request(req: Http2ServerRequest): void {
  const src = req.headers;
  const headers: IncomingHttpHeaders = {};
  for (const name in src) if (name.charCodeAt(0) !== 0x3a /* : */) headers[name] = src[name] as string;
  if (headers.host === undefined) {
    const authority = src[":authority"];
    if (typeof authority === "string" && authority !== "") headers.host = authority;
  }
  // A body of unknown length (no content-length, the stream still open) is what chunked
  // framing is on HTTP/1.1: the data plane's body checks and HTTP/1.1 upstreams read it so.
  if (headers["content-length"] === undefined && !req.stream.endAfterHeaders)
    headers["transfer-encoding"] = "chunked";
  else if (headers["transfer-encoding"] !== undefined) delete headers["transfer-encoding"];
  Object.defineProperty(req, "headers", { value: headers, writable: true, configurable: true });
}

/** Whether `req` came over HTTP/2 (the compatibility request has the stream; IncomingMessage has none). */
export function isH2Request(req: object): boolean {
  return (req as { stream?: unknown }).stream !== undefined;
}
