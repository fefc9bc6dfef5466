// Network addresses ("host:port", "[v6]:port") and CIDR blocks, normalized to plain objects
// that can be stored in the replicated cluster state and compared as JSON.

import { isIP } from "node:net";
import { bad, ok, type Parsed } from "./file/parsed.js";

export interface Address {
  /** Hostname or IP; an IPv6 address is stored without brackets. */
  readonly host: string;
  readonly port: number;
}

/** A CIDR block in the form `net.BlockList.addSubnet(address, prefix, family)` takes. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

function addressExpected(allowPortZero: boolean): string {
  return `an address "host:port" (IPv6 in brackets: "[::1]:8080"), port ${allowPortZero ? "0" : "1"}-65535`;
}

/**
 * `listen.http: 8080` (a YAML number) and `":9901"` (Go's "all interfaces" shorthand) name a
 * port and no host: the error said what an address is but not which one was probably meant.
 * A listener gets both usual hosts; an address to connect to gets the loopback one.
 */
function portOnlyHint(input: unknown, listener: boolean): string | undefined {
  const text = typeof input === "number" ? String(input) : typeof input === "string" ? input.trim() : "";
  const m = /^:?(\d{1,5})$/.exec(text);
  if (m === null || Number(m[1]) > 65535) return undefined;
  const port = Number(m[1]);
  const meant = listener
    ? `"0.0.0.0:${port}" (or "127.0.0.1:${port}")`
    : `"127.0.0.1:${port}" (or "HOST:${port}")`;
  return `${JSON.stringify(input)}, a port with no host: did you mean ${meant}?`;
}

/**
 * Parses `host:port`. Also accepts an already-normalized `{host, port}` object so that a
 * normalized config parses to itself (the cluster state re-validates normalized routing).
 * Port 0 ("pick a free port") is only meaningful for listeners.
 */
export function parseAddress(input: unknown, allowPortZero = false): Parsed<Address> {
  const hint = portOnlyHint(input, allowPortZero);
  const expected = addressExpected(allowPortZero);
  if (hint !== undefined) return bad(expected, hint);
  let host: string;
  let port: number;
  if (typeof input === "string") {
    const text = input.trim();
    let portText: string;
    if (text.startsWith("[")) {
      const close = text.indexOf("]");
      if (close < 0 || text[close + 1] !== ":") return bad(expected);
      host = text.slice(1, close);
      if (isIP(host) !== 6) return bad(expected);
      portText = text.slice(close + 2);
    } else {
      const colon = text.lastIndexOf(":");
      if (colon <= 0) return bad(expected);
      host = text.slice(0, colon);
      // A bare IPv6 address without brackets is ambiguous ("::1:80"); require brackets.
      if (host.includes(":")) return bad(expected);
      portText = text.slice(colon + 1);
    }
    if (!/^\d{1,5}$/.test(portText)) return bad(expected);
    port = Number(portText);
  } else if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    if (Object.keys(o).some((k) => k !== "host" && k !== "port")) return bad(expected);
    if (typeof o.host !== "string" || typeof o.port !== "number" || !Number.isInteger(o.port))
      return bad(expected);
    host = o.host;
    port = o.port;
  } else {
    return bad(expected);
  }
  if (port > 65535 || port < (allowPortZero ? 0 : 1)) return bad(expected);
  if (isIP(host) === 0 && !HOSTNAME.test(host)) return bad(expected);
  return ok({ host: isIP(host) === 0 ? host.toLowerCase() : host, port });
}

const CIDR_EXPECTED = 'a CIDR block like "10.0.0.0/8" or "::1/128", or a single IP address';

/** Parses a CIDR block (a bare IP means a /32 or /128), or an already-normalized one. */
export function parseCidr(input: unknown): Parsed<Cidr> {
  let address: string;
  let prefix: number | undefined;
  if (typeof input === "string") {
    const slash = input.indexOf("/");
    address = (slash < 0 ? input : input.slice(0, slash)).trim();
    if (slash >= 0) {
      const p = input.slice(slash + 1).trim();
      if (!/^\d{1,3}$/.test(p)) return bad(CIDR_EXPECTED);
      prefix = Number(p);
    }
  } else if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    if (typeof o.address !== "string" || typeof o.prefix !== "number") return bad(CIDR_EXPECTED);
    address = o.address;
    prefix = o.prefix;
  } else {
    return bad(CIDR_EXPECTED);
  }
  const version = isIP(address);
  if (version === 0) return bad(CIDR_EXPECTED);
  const max = version === 4 ? 32 : 128;
  prefix ??= max;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return bad(CIDR_EXPECTED);
  return ok({ address, prefix, family: version === 4 ? "ipv4" : "ipv6" });
}

/** `host:port`, with an IPv6 host in brackets (`[::1]:8080`): the one way addresses are written. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An Address as `host:port` (see formatHostPort). */
export function formatAddress(a: Address): string {
  return formatHostPort(a.host, a.port);
}
