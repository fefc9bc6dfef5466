// The trustedProxies check, precompiled. Routes with `trustedProxies` ask it for the peer and
// then for every X-Forwarded-For / Forwarded entry they read, on every request; node:net's
// BlockList.check cost ~2 us an entry (a SocketAddress object and a native call per address),
// 4-8 us a request. Here the CIDRs are compiled once into 128-bit rules (IPv4 as its
// IPv4-mapped IPv6 address, ::ffff:a.b.c.d, and a /p IPv4 block as /96+p, which is how BlockList
// compares across families) and IPv4 blocks also into integer ranges; an address's text is
// parsed once into a reused scratch buffer, so a check allocates nothing.
//
// The answer is BlockList's for the same text, which the fuzz in test/proxy/cidr-match.test.ts
// checks over seeded addresses and blocks, down to its parser's edges: IPv4 is read only in
// the strict dotted form (node:net isIPv4: no leading zeros), anything else as IPv6 the way
// libuv's inet_pton reads it (one "::", 1-4 hex digits a group, a dotted IPv4 tail, any case),
// a "%zone" is dropped with the address part cut to 39 characters (uv_ip6_addr), and the text
// ends at a NUL as a C string does.

import type { Cidr } from "../../config/file/schema.js";

/** What a trusted list answers: whether an address (text as written, IPv4 or IPv6) is inside it. */
export interface TrustedList {
  has(address: string): boolean;
}

/** The address just parsed, as four 32-bit words (IPv4 as ::ffff:a.b.c.d). Reused: no allocation per check. */
const scratch = new Int32Array(4);
/** Groups of the IPv6 text being parsed. */
const groups = new Uint16Array(8);

/** uv_ip6_addr copies at most this many characters of the text before a "%zone". */
const ZONE_ADDRESS_CHARS = 39;

export class CidrMatcher implements TrustedList {
  /** 128-bit rules: network and mask, four words each. */
  private readonly net: Int32Array;
  private readonly mask: Int32Array;
  private readonly rules: number;
  /** IPv4 addresses every rule admits, as inclusive [lo, hi] ranges of the 32-bit address. */
  private readonly v4lo: Float64Array;
  private readonly v4hi: Float64Array;

  constructor(cidrs: readonly Cidr[]) {
    this.rules = cidrs.length;
    this.net = new Int32Array(4 * cidrs.length);
    this.mask = new Int32Array(4 * cidrs.length);
    const lo: number[] = [];
    const hi: number[] = [];
    for (let r = 0; r < cidrs.length; r++) {
      const c = cidrs[r];
      if (!parseAddress(c.address)) throw new Error(`not an IP address: "${c.address}"`);
      const prefix = Math.max(0, Math.min(c.family === "ipv4" && isMapped() ? 96 + c.prefix : c.prefix, 128));
      for (let w = 0; w < 4; w++) {
        const bits = Math.max(0, Math.min(32, prefix - 32 * w));
        const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
        this.mask[4 * r + w] = m;
        this.net[4 * r + w] = scratch[w] & m;
      }
      // The IPv4 addresses inside: those whose mapped form the rule's first 96 bits admit.
      let mapped = true;
      for (let w = 0; w < 3; w++)
        if ((MAPPED_PREFIX[w] & this.mask[4 * r + w]) !== this.net[4 * r + w]) mapped = false;
      if (mapped) {
        const m = this.mask[4 * r + 3] >>> 0;
        const n = this.net[4 * r + 3] >>> 0;
        lo.push(n);
        hi.push(n + (~m >>> 0));
      }
    }
    this.v4lo = Float64Array.from(lo);
    this.v4hi = Float64Array.from(hi);
  }

  has(address: string): boolean {
    const v4 = parseStrictIPv4(address, 0, address.length);
    if (v4 >= 0) {
      for (let i = 0; i < this.v4lo.length; i++) if (v4 >= this.v4lo[i] && v4 <= this.v4hi[i]) return true;
      return false;
    }
    if (!parseIPv6(address)) return false;
    const net = this.net;
    const mask = this.mask;
    const a0 = scratch[0];
    const a1 = scratch[1];
    const a2 = scratch[2];
    const a3 = scratch[3];
    for (let r = 0, o = 0; r < this.rules; r++, o += 4) {
      if (
        (a0 & mask[o]) === net[o] &&
        (a1 & mask[o + 1]) === net[o + 1] &&
        (a2 & mask[o + 2]) === net[o + 2] &&
        (a3 & mask[o + 3]) === net[o + 3]
      )
        return true;
    }
    return false;
  }
}

const MAPPED_PREFIX = Int32Array.of(0, 0, 0xffff);

/** Whether the scratch address is IPv4-mapped (the form an IPv4 address is parsed into). */
function isMapped(): boolean {
  return scratch[0] === 0 && scratch[1] === 0 && scratch[2] === 0xffff;
}

/** Parses `text` (IPv4 dotted or IPv6) into the scratch words; false when it is neither. */
function parseAddress(text: string): boolean {
  const v4 = parseStrictIPv4(text, 0, text.length);
  if (v4 < 0) return parseIPv6(text);
  setMapped(v4);
  return true;
}

function setMapped(v4: number): void {
  scratch[0] = 0;
  scratch[1] = 0;
  scratch[2] = 0xffff;
  scratch[3] = v4 | 0;
}

/**
 * `s[from, to)` as a 32-bit IPv4 address, or -1. `strict`: node:net isIPv4's form (no leading
 * zero in an octet); the IPv4 tail of an IPv6 text is read the same way by inet_pton.
 */
function parseStrictIPv4(s: string, from: number, to: number): number {
  let value = 0;
  let octets = 0;
  let i = from;
  while (true) {
    if (i >= to) return -1;
    let c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    let octet = c - 0x30;
    i++;
    if (octet !== 0) {
      while (i < to) {
        c = s.charCodeAt(i);
        if (c < 0x30 || c > 0x39) break;
        octet = octet * 10 + (c - 0x30);
        if (octet > 255) return -1;
        i++;
      }
    }
    value = value * 256 + octet;
    octets++;
    if (octets === 4) return i === to ? value : -1;
    if (i >= to || s.charCodeAt(i) !== 0x2e /* . */) return -1;
    i++;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** Where the address part of an IPv6 text ends: at a NUL, else at a "%" (cut to 39 characters). */
function addressEnd(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return i;
    if (c === 0x25 /* % */) return Math.min(i, ZONE_ADDRESS_CHARS);
  }
  return s.length;
}

/** Parses an IPv6 text into the scratch words; false when inet_pton would refuse it. */
function parseIPv6(s: string): boolean {
  const end = addressEnd(s);
  let i = 0;
  // A leading ':' must be half of a "::".
  if (end > 0 && s.charCodeAt(0) === 0x3a && (end < 2 || s.charCodeAt(1) !== 0x3a)) return false;
  if (end > 0 && s.charCodeAt(0) === 0x3a) i = 1;
  let n = 0; // groups written
  let gap = -1; // where "::" stands, in groups
  let digits = 0;
  let value = 0;
  let token = i; // start of the current group (an IPv4 tail is read from here)
  let tail = false;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    const h = hexValue(c);
    if (h >= 0) {
      value = value * 16 + h;
      if (++digits > 4) return false;
      continue;
    }
    if (c === 0x3a /* : */) {
      token = i + 1;
      if (digits === 0) {
        if (gap >= 0) return false;
        gap = n;
        continue;
      }
      if (i + 1 >= end || n === 8) return false;
      groups[n++] = value;
      digits = 0;
      value = 0;
      continue;
    }
    if (c === 0x2e /* . */ && n <= 6) {
      const v4 = parseStrictIPv4(s, token, end);
      if (v4 < 0) return false;
      groups[n++] = Math.floor(v4 / 0x10000);
      groups[n++] = v4 & 0xffff;
      tail = true;
      break;
    }
    return false;
  }
  if (!tail && digits > 0) {
    if (n === 8) return false;
    groups[n++] = value;
  }
  if (gap >= 0) {
    if (n === 8) return false;
    const moved = n - gap;
    for (let k = 1; k <= moved; k++) groups[8 - k] = groups[n - k];
    for (let k = gap; k < 8 - moved; k++) groups[k] = 0;
  } else if (n !== 8) return false;
  for (let w = 0; w < 4; w++) scratch[w] = (groups[2 * w] << 16) | groups[2 * w + 1];
  return true;
}
