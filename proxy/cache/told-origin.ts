// What a member is told about the origin of a request beyond the three things the cache key holds
// (the Host, the X-Forwarded-Proto scheme and the target). A trusted proxy's X-Forwarded-Host,
// -Port, -Prefix, -Scheme, -Ssl, -Uri and -Server, and the proto= and host= of its Forwarded
// elements, reach the member, and frameworks build absolute links and redirects from them (Spring
// reads Forwarded first, Rack X-Forwarded-Scheme and -Ssl; Traefik sends -Uri, the target it was
// asked for before any prefix was stripped, and -Server, its host name, on every request). Keyed
// on Host alone, one request's answer built for another host or prefix was served to every client
// of the URL: the web-cache-poisoning vector behind a CDN that passes a client's X-Forwarded-Host
// on. Varnish, nginx and Envoy key on Host and leave it to the operator to hash or strip these
// fields; here the key carries them, but only when they say something the key does not already
// hold, so the common request keeps its key and its entries.

import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/**
 * Fields only a trusted proxy's request carries to a member (headers.ts strips a client's own)
 * that say something the key does not hold whenever they are sent.
 */
const TOLD = ["x-forwarded-prefix", "x-forwarded-scheme", "x-forwarded-ssl"] as const;

/** A Forwarded parameter a member may take its origin from, with its value (token or quoted-string). */
const FORWARDED_ORIGIN = /(?:^|[\s;,])(proto|host)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;,]*)/gi;

/**
 * "" when the member is told nothing about its origin the key does not already hold (no trusted
 * proxy, or one whose fields agree with Host and scheme); otherwise a hash of what it is told,
 * which baseKey writes after the hash tag, so each told origin has entries of its own and a
 * purge of the URL finds them with the plain one.
 * `url` is the target the key holds. X-Forwarded-Uri naming that target, and X-Forwarded-Server
 * naming the Host, say nothing more (Traefik without a path rewrite sends such a -Uri on every
 * request, and a proxy whose server name is the site's such a -Server).
 * `proxyForwarded` is a trusted proxy's Forwarded as it sent it (undefined from anyone else).
 */
export function toldOriginHash(
  view: IncomingHttpHeaders,
  host: string | undefined,
  scheme: string,
  url: string,
  proxyForwarded: string | undefined,
): string {
  const forwardedHost = view["x-forwarded-host"];
  const port = view["x-forwarded-port"];
  const uri = view["x-forwarded-uri"];
  const server = view["x-forwarded-server"];
  let differs =
    forwardedHost !== host ||
    (port !== undefined && (typeof port !== "string" || port.trim() !== keyedPort(host, scheme))) ||
    (uri !== undefined && uri !== url) ||
    (server !== undefined && server !== host);
  for (let i = 0; !differs && i < TOLD.length; i++) differs = view[TOLD[i]] !== undefined;
  const forwarded = proxyForwarded === undefined ? "" : forwardedOrigin(proxyForwarded);
  if (!differs && (forwarded === "" || agrees(forwarded, host, scheme))) return "";
  const told = [forwardedHost, port, ...TOLD.map((name) => view[name]), forwarded];
  // Added only when sent, so an origin told without them keeps the hash (and the entries) it had
  // before they were read.
  if (uri !== undefined || server !== undefined) told.push(uri, server);
  return createHash("sha256").update(JSON.stringify(told)).digest("base64url");
}

/** The port the key's origin stands for: Host's own, else the default of the scheme. */
function keyedPort(host: string | undefined, scheme: string): string {
  const m = host === undefined ? null : /:(\d+)$/.exec(host);
  if (m !== null) return m[1];
  return scheme === "https" ? "443" : "80";
}

/** The proto= and host= parameters of a Forwarded text, in order, as "name=value" lines (lower-case names). */
function forwardedOrigin(text: string): string {
  let out = "";
  for (const m of text.matchAll(FORWARDED_ORIGIN)) out += `${m[1].toLowerCase()}=${unquote(m[2])}\n`;
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, "$1") : v;
}

/** Whether every proto= names the keyed scheme and every host= the request's Host. */
function agrees(forwarded: string, host: string | undefined, scheme: string): boolean {
  for (const line of forwarded.split("\n")) {
    if (line === "") continue;
    const eq = line.indexOf("=");
    const value = line.slice(eq + 1);
    if (line.startsWith("proto=") ? value.toLowerCase() !== scheme : value !== host) return false;
  }
  return true;
}
