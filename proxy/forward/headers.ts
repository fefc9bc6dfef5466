// Header handling at the proxy hop (RFC 9110 section 7.6.1): hop-by-hop request and
// response headers, and any header the Connection header names, stay on their hop;
// X-Forwarded-For gets the peer appended; X-Forwarded-Proto/-Host are set unless a trusted
// proxy already set them; the other forwarding fields frameworks read (CLIENT_FORWARDING) are
// kept only from a trusted proxy; RFC 7239 Forwarded gets this hop's element, whose proto= is
// the scheme X-Forwarded-Proto tells. Headers are edited in place on the parsed objects.

import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { TrustedList } from "../routing/cidr-match.js";
import { connectionFacts } from "./connection-facts.js";
import { forwardedProtoScheme, forwardedScheme } from "./told-scheme.js";

// transfer-encoding is hop-by-hop too, but Node's client re-frames a chunked body only when
// the header is present, so it is kept on the request and left to Node on the response.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect"];
const HOP_BY_HOP_UPGRADE = ["keep-alive", "proxy-connection", "te", "trailer", "expect"];

/**
 * Forwarding fields this hop does not write but a member's framework may build links, redirects
 * or a client address from (Spring and Rack read X-Forwarded-Port / -Prefix / -Ssl / -Scheme,
 * nginx setups X-Real-IP). Only a trusted proxy may set them: an untrusted client's are dropped,
 * as Traefik drops them. Kept, they were an unkeyed input to every shared-cache entry: one
 * client's `X-Forwarded-Port: 6666` made the member's answer link to port 6666, and that answer
 * was stored under the URL and served to everyone (test/outside/cache-forwarding-fields.test.ts).
 */
const CLIENT_FORWARDING = [
  "x-forwarded-port",
  "x-forwarded-prefix",
  "x-forwarded-server",
  "x-forwarded-ssl",
  "x-forwarded-scheme",
  "x-forwarded-uri",
  "x-real-ip",
];

/** Whether any raw header name could be one of CLIENT_FORWARDING (an "x-" name of 9 characters or more). */
function mayCarryClientForwarding(raw: string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length >= 9 && (name.charCodeAt(0) | 0x20) === 0x78 && name.charCodeAt(1) === 0x2d) return true;
  }
  return false;
}

function dropConnectionTokens(headers: IncomingHttpHeaders | Record<string, unknown>, keep: boolean): void {
  const conn = headers.connection;
  if (typeof conn !== "string") return;
  if (conn.indexOf(",") < 0) {
    const t = conn.trim().toLowerCase();
    if (t === "" || t === "keep-alive" || t === "close" || t === "upgrade") return;
  }
  for (const raw of conn.split(",")) {
    const name = raw.trim().toLowerCase();
    if (name === "" || name === "close" || name === "keep-alive" || name === "upgrade") continue;
    if (keep && (name === "upgrade" || name === "connection")) continue;
    if (name !== "host" && name !== "content-length" && name !== "transfer-encoding") delete headers[name];
  }
}

/**
 * Whether any of the request's raw header names could be one of HOP_BY_HOP (its length and first
 * letter match one): most requests carry none, and then the header object is not probed for
 * each of the seven (a lookup by a varying key each, about 50 ns a request in all).
 */
function mayCarryHopByHop(raw: string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const first = name.charCodeAt(0) | 0x20;
    switch (name.length) {
      case 2: // te
        if (first === 0x74) return true;
        break;
      case 6: // expect
        if (first === 0x65) return true;
        break;
      case 7: // trailer, upgrade
        if (first === 0x74 || first === 0x75) return true;
        break;
      case 10: // connection, keep-alive
        if (first === 0x63 || first === 0x6b) return true;
        break;
      case 16: // proxy-connection
        if (first === 0x70) return true;
        break;
    }
  }
  return false;
}

/**
 * Removes hop-by-hop headers from a request about to be forwarded (keeps Upgrade for websockets).
 * `req.headers` is read from `req.rawHeaders` and nothing adds to it before this runs, so a
 * request whose raw names include none of them has none to remove (and no Connection header
 * naming others).
 */
export function stripRequestHopByHop(req: IncomingMessage, upgrade: boolean): void {
  if (!mayCarryHopByHop(req.rawHeaders)) return;
  const headers = req.headers;
  dropConnectionTokens(headers, upgrade);
  const list = upgrade ? HOP_BY_HOP_UPGRADE : HOP_BY_HOP;
  for (let i = 0; i < list.length; i++) if (headers[list[i]] !== undefined) delete headers[list[i]];
}

/**
 * Removes hop-by-hop headers from an upstream response before it is copied to the client.
 * They are set to undefined rather than deleted: the copy (http-proxy-3's writeHeaders)
 * skips undefined values, and a `delete` would turn the object into a slow dictionary for
 * every later read on the response path (two deletes per keep-alive response otherwise).
 */
export function stripResponseHopByHop(headers: IncomingHttpHeaders): void {
  dropConnectionTokens(headers, false);
  if (headers.connection !== undefined) headers.connection = undefined;
  if (headers["keep-alive"] !== undefined) headers["keep-alive"] = undefined;
  if (headers["proxy-connection"] !== undefined) headers["proxy-connection"] = undefined;
  if (headers.trailer !== undefined) headers.trailer = undefined;
  if (headers.upgrade !== undefined) headers.upgrade = undefined;
  if (headers.te !== undefined) headers.te = undefined;
}

const RESPONSE_HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"];
const RESPONSE_HOP_BY_HOP_101 = ["keep-alive", "proxy-connection", "te", "trailer"];

/**
 * The same for an upstream's answer to an upgrade request, which http-proxy-3 serializes
 * itself (an undefined value would be written as the text "undefined", so these are
 * deleted: upgrades are rare enough). A 101 keeps Connection and Upgrade.
 */
export function deleteResponseHopByHop(headers: IncomingHttpHeaders, switching: boolean): void {
  dropConnectionTokens(headers, switching);
  const list = switching ? RESPONSE_HOP_BY_HOP_101 : RESPONSE_HOP_BY_HOP;
  for (let i = 0; i < list.length; i++) if (headers[list[i]] !== undefined) delete headers[list[i]];
}

/** Sets X-Forwarded-For/-Proto/-Host and Forwarded on `req.headers` for the upstream. */
export function setForwardedHeaders(req: IncomingMessage, trusted: TrustedList | null): void {
  writeForwardedHeaders(req, trusted, req.headers);
}

/**
 * Sets on `req.headers` this hop's forwarding fields from a view upstreamHeaderView built for the
 * same request (the shared cache's, taken before the edge features ran): the values
 * setForwardedHeaders would write, without working them out again. Nothing the view reads
 * (X-Forwarded-*, Forwarded, Host, the connection) changes between the two; the fields are
 * written in setForwardedHeaders' order, so the upstream gets the same head.
 */
export function copyForwardedHeaders(view: IncomingHttpHeaders, req: IncomingMessage): void {
  const out = req.headers;
  out["x-forwarded-for"] = view["x-forwarded-for"];
  out["x-forwarded-proto"] = view["x-forwarded-proto"];
  const host = view["x-forwarded-host"];
  if (host !== undefined) out["x-forwarded-host"] = host;
  else if (out["x-forwarded-host"] !== undefined) delete out["x-forwarded-host"];
  out.forwarded = view.forwarded;
  if (!mayCarryClientForwarding(req.rawHeaders)) return;
  for (let i = 0; i < CLIENT_FORWARDING.length; i++) {
    const name = CLIENT_FORWARDING[i];
    if (view[name] === undefined && out[name] !== undefined) delete out[name];
  }
}

/**
 * A copy of `req.headers` as the upstream will get them (this hop's X-Forwarded-* / Forwarded
 * added, X-Request-Id set), without touching the request: what a response's `Vary` is about
 * when it is looked up before the request is forwarded (shared-cache.ts).
 */
export function upstreamHeaderView(
  req: IncomingMessage,
  trusted: TrustedList | null,
  requestId: string,
): IncomingHttpHeaders {
  // Copied name by name, not with an object spread: a spread of the (null-prototype) headers
  // object followed by this hop's five writes cost ~3 us a request (a fresh shape per copy,
  // then a transition per write), a for-in copy ~0.15 us; same names, values and order.
  const headers = req.headers;
  const view: IncomingHttpHeaders = {};
  for (const name in headers) view[name] = headers[name];
  writeForwardedHeaders(req, trusted, view);
  view["x-request-id"] = requestId;
  return view;
}

/** This hop's forwarding fields, read from `req.headers` (as the client sent them) and written to `out`. */
function writeForwardedHeaders(
  req: IncomingMessage,
  trusted: TrustedList | null,
  out: IncomingHttpHeaders,
): void {
  const headers = req.headers;
  const facts = connectionFacts(req.socket);
  const peer = facts.peer;
  const xff = headers["x-forwarded-for"];
  const fromTrusted = trusted !== null && facts.fromTrusted(trusted);
  const proto = headers["x-forwarded-proto"];
  const fwd = headers.forwarded;
  const host = headers.host;
  out["x-forwarded-for"] = typeof xff === "string" && xff !== "" ? `${xff}, ${peer}` : peer;
  // The scheme the member is told, and the shared cache keys on: a trusted proxy's (a TLS-
  // terminating load balancer's https in front of this plain listener), in its X-Forwarded-Proto
  // or else in the elements trusted proxies wrote in its Forwarded (told-scheme.ts), else this
  // connection's. X-Forwarded-Proto carries it as one lower-case element and this hop's Forwarded
  // element says the same: its proto=http under a trusted https had a member that reads Forwarded
  // (Spring the first element, Rack the last) or, told https in Forwarded only,
  // X-Forwarded-Proto (Express) build http links for https clients. A trusted
  // X-Forwarded-Proto that names no scheme, or is a list whose elements disagree (an appending
  // proxy's `https, http`, the first its client's own), is passed on as it came (and never
  // cached); proto= must name one, so the element names the connection's. An untrusted client's
  // value is never read, as Envoy's edge (use_remote_address, no trusted hops) overwrites it.
  const own = facts.encrypted ? "https" : "http";
  let told = own;
  if (fromTrusted && proto !== undefined) told = forwardedScheme(proto);
  else if (fromTrusted && trusted !== null && typeof fwd === "string")
    told = forwardedProtoScheme(fwd, trusted) || own;
  if (told !== "") out["x-forwarded-proto"] = told;
  if (!fromTrusted || headers["x-forwarded-host"] === undefined) {
    if (host !== undefined) out["x-forwarded-host"] = host;
    else delete out["x-forwarded-host"];
  }
  // RFC 7239: append this hop's element after a trusted proxy's; an untrusted client's
  // Forwarded is replaced, since an upstream may believe it.
  const element = facts.forwardedElement(host, told === "" ? own : told);
  out.forwarded = fromTrusted && typeof fwd === "string" && fwd !== "" ? `${fwd}, ${element}` : element;
  if (fromTrusted || !mayCarryClientForwarding(req.rawHeaders)) return;
  for (let i = 0; i < CLIENT_FORWARDING.length; i++) {
    const name = CLIENT_FORWARDING[i];
    if (out[name] !== undefined) delete out[name];
  }
}
