// A conditional GET or HEAD answered from a stored response (RFC 9111 4.3.2, RFC 9110 13.2.2):
// when the client's validator still names the stored response, it is told so with a 304 and no
// body, as Varnish and nginx answer a browser revalidating what it holds. If-None-Match decides
// when present (weak comparison: `W/"x"` matches `"x"`, `*` matches any stored response);
// otherwise If-Modified-Since against the stored Last-Modified. A validator the entry cannot
// satisfy (no ETag, no Last-Modified, an If-Modified-Since that is no HTTP-date) gets the full
// stored answer. If-Match and If-Unmodified-Since never reach here: such requests go to the
// member (cache-policy.ts requestMode).

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { parseHttpDate } from "./http-date.js";

/** The opaque part of an entity-tag (`W/"x"` and `"x"` both give `"x"`). */
function opaque(tag: string): string {
  const t = tag.trim();
  return t.startsWith("W/") ? t.slice(2) : t;
}

function etagMatches(list: string, etag: string): boolean {
  const want = opaque(etag);
  for (const tag of list.split(",")) {
    const t = tag.trim();
    if (t !== "" && opaque(t) === want) return true;
  }
  return false;
}

/** Whether a stored response with `stored` headers answers this request 304 Not Modified. */
export function notModified(req: IncomingHttpHeaders, stored: OutgoingHttpHeaders): boolean {
  const inm = req["if-none-match"];
  if (inm !== undefined) {
    const etag = stored.etag;
    if (inm.trim() === "*") return true;
    return typeof etag === "string" && etagMatches(inm, etag);
  }
  const ims = req["if-modified-since"];
  const lastModified = stored["last-modified"];
  if (ims === undefined || typeof lastModified !== "string") return false;
  const since = parseHttpDate(ims);
  const modified = Date.parse(lastModified);
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}
