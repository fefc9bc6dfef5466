// PROXY protocol v1 (text) and v2 (binary) header parsing, as haproxy's proxy-protocol.txt
// defines them. Own parser rather than a package: the npm parsers take a complete buffer,
// while a listener needs to know, byte by byte, whether the header is still incomplete,
// already malformed, or too long, and that framing is most of the work.

import { isIPv4, isIPv6 } from "node:net";

/** v1 headers are at most 107 bytes including CRLF. */
const V1_MAX = 107;
/** v2: 16 fixed bytes plus addresses and TLVs; load balancers send a few hundred at most. */
export const V2_MAX = 16 + 1024;
const V1_PREFIX = Buffer.from("PROXY ", "latin1");
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export type ProxyHeader =
  | { kind: "incomplete" }
  | { kind: "bad"; reason: "signature" | "malformed" | "oversized" }
  /** `address` absent: LOCAL/UNKNOWN/UNSPEC, i.e. the connection's own peer stands. */
  | { kind: "ok"; length: number; address?: string; port?: number; family?: "IPv4" | "IPv6" };

const INCOMPLETE: ProxyHeader = { kind: "incomplete" };

function prefixMatches(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return false;
  return true;
}

/** Parses the header at the start of `buf` (everything received so far on the connection). */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] === 0x50) return prefixMatches(buf, V1_PREFIX) ? parseV1(buf) : bad("signature");
  if (buf[0] === 0x0d) return prefixMatches(buf, V2_SIGNATURE) ? parseV2(buf) : bad("signature");
  return bad("signature");
}

function bad(reason: "signature" | "malformed" | "oversized"): ProxyHeader {
  return { kind: "bad", reason };
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function parseV1(buf: Buffer): ProxyHeader {
  if (buf.length < V1_PREFIX.length) return INCOMPLETE;
  const end = buf.indexOf("\r\n", 0, "latin1");
  if (end < 0) return buf.length >= V1_MAX ? bad("oversized") : INCOMPLETE;
  const length = end + 2;
  if (length > V1_MAX) return bad("oversized");
  const parts = buf.toString("latin1", V1_PREFIX.length, end).split(" ");
  if (parts[0] === "UNKNOWN") return { kind: "ok", length };
  if (parts.length !== 5) return bad("malformed");
  const [proto, src, dst, sport, dport] = parts;
  const check = proto === "TCP4" ? isIPv4 : proto === "TCP6" ? isIPv6 : undefined;
  if (check === undefined || !check(src) || !check(dst)) return bad("malformed");
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) {
    return bad("malformed");
  }
  return {
    kind: "ok",
    length,
    // Canonical text, as v2's: "2001:DB8:0::5" and a v4-mapped "::ffff:1.2.3.4" were kept as
    // sent, so one client reached another ip key and X-Forwarded-For text through a v1 balancer.
    address: proto === "TCP6" ? canonicalIPv6(src) : src,
    port: Number(sport),
    family: proto === "TCP4" ? "IPv4" : "IPv6",
  };
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return INCOMPLETE;
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) return bad("malformed");
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return bad("malformed");
  const family = buf[13] >> 4;
  const transport = buf[13] & 0x0f;
  if (family > 3 || transport > 2) return bad("malformed");
  const length = 16 + buf.readUInt16BE(14);
  if (length > V2_MAX) return bad("oversized");
  // Address blocks' sizes: INET 12, INET6 36, UNIX 216.
  const need = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0;
  if (length - 16 < need) return bad("malformed");
  if (buf.length < length) return INCOMPLETE;
  // LOCAL (health checks from the balancer itself) and UNSPEC/UNIX/UDP carry no TCP client.
  if (cmd === 0 || transport !== 1 || family === 0 || family === 3) return { kind: "ok", length };
  if (family === 1) {
    const address = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    return { kind: "ok", length, address, port: buf.readUInt16BE(24), family: "IPv4" };
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
  // Canonical text (the BlockList and X-Forwarded-For readers compare text).
  const address = canonicalIPv6(groups.join(":"));
  return { kind: "ok", length, address, port: buf.readUInt16BE(48), family: "IPv6" };
}

const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

function canonicalIPv6(full: string): string {
  // new URL normalizes IPv6 text per RFC 5952 (zero compression, lower case).
  const host = new URL(`http://[${full}]/`).hostname;
  const text = host.slice(1, -1);
  // A v4-mapped address is the IPv4 client (as the socket layer reports it). The URL parser
  // writes its tail in hex ("::ffff:cb00:7107"), so the dotted test alone never matched.
  const mapped = MAPPED_HEX.exec(text);
  if (mapped === null) return text;
  const hi = Number.parseInt(mapped[1], 16);
  const lo = Number.parseInt(mapped[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
