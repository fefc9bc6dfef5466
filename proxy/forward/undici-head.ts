// The client's response head on the undici engine, built straight from undici's raw header
// pairs into the flat [name, value, ...] list `res.writeHead` takes: no header object per
// response and no setHeader call (each validates, lowercases and stores into the response's
// header map) per header. The same rules as the http-proxy-3 path (headers.ts): hop-by-hop
// headers and any header the upstream's Connection names stay on the upstream hop,
// Transfer-Encoding is left to Node's own framing, shardgate's headers are added. Repeated
// headers stay repeated lines (Set-Cookie must; for the others it is the same message).

/** Hop-by-hop response headers (lowercase), plus transfer-encoding (Node re-frames the body). */
function isHopByHop(name: string): boolean {
  switch (name) {
    case "connection":
    case "keep-alive":
    case "proxy-connection":
    case "te":
    case "trailer":
    case "upgrade":
    case "transfer-encoding":
      return true;
    default:
      return false;
  }
}

/** Whether `b` (from..to) equals the lowercase token `t`, ASCII letters compared case-insensitively. */
function bytesAre(b: Buffer, from: number, to: number, t: string): boolean {
  if (to - from !== t.length) return false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const x = b[from + i];
    if (c === 0x2d ? x !== 0x2d : (x | 0x20) !== c) return false;
  }
  return true;
}

/** Whether a Connection value may name headers: anything but a lone keep-alive / close / upgrade (read as bytes: no string per response). */
function namesHeaders(value: Buffer): boolean {
  let from = 0;
  let to = value.length;
  while (from < to && (value[from] === 0x20 || value[from] === 0x09)) from++;
  while (to > from && (value[to - 1] === 0x20 || value[to - 1] === 0x09)) to--;
  if (from === to) return false;
  return !(
    bytesAre(value, from, to, "keep-alive") ||
    bytesAre(value, from, to, "close") ||
    bytesAre(value, from, to, "upgrade")
  );
}

// Response header names most upstreams send, by length: matched against the raw bytes, so the
// common names cost no string (and no lowercase copy) per response. Letters and '-' only.
// KNOWN_NAMES[length] holds indexes into KNOWN.
const KNOWN: string[] = [];
const KNOWN_NAMES: number[][] = [];
for (const n of [
  "age",
  "date",
  "etag",
  "vary",
  "te",
  "server",
  "expires",
  "trailer",
  "upgrade",
  "location",
  "connection",
  "keep-alive",
  "set-cookie",
  "content-type",
  "x-request-id",
  "accept-ranges",
  "cache-control",
  "last-modified",
  "content-length",
  "content-encoding",
  "proxy-connection",
  "transfer-encoding",
]) {
  while (KNOWN_NAMES.length <= n.length) KNOWN_NAMES.push([]);
  KNOWN_NAMES[n.length].push(KNOWN.length);
  KNOWN.push(n);
}

/** The index in KNOWN of the header name in `b` (any case), or -1. */
function knownIndex(b: Buffer): number {
  const known = b.length < KNOWN_NAMES.length ? KNOWN_NAMES[b.length] : undefined;
  if (known !== undefined)
    for (let k = 0; k < known.length; k++) if (bytesAre(b, 0, b.length, KNOWN[known[k]])) return known[k];
  return -1;
}

/** The header name lowercased: an interned string for the common ones, else a new string. */
export function headerName(b: Buffer): string {
  const k = knownIndex(b);
  return k >= 0 ? KNOWN[k] : b.toString("latin1").toLowerCase();
}

/**
 * The last value seen per known header name. Most values repeat from one response to the next
 * (Server, Content-Type, Date within its second, often Content-Length and Cache-Control), so a
 * byte comparison finds the string already made: no native call and no new string per header.
 */
const LAST_VALUE: string[] = KNOWN.map(() => "");
/** Values longer than this are not kept (a long Set-Cookie would cost a long comparison per response). */
const MAX_KEPT_VALUE = 128;

function sameText(b: Buffer, s: string): boolean {
  if (b.length !== s.length) return false;
  for (let i = 0; i < b.length; i++) if (b[i] !== s.charCodeAt(i)) return false;
  return true;
}

/** A header value as latin1 text (as Node's parser reads it), reusing the last one of a known name. */
function valueText(b: Buffer, known: number): string {
  if (known < 0 || b.length > MAX_KEPT_VALUE) return b.toString("latin1");
  const last = LAST_VALUE[known];
  if (sameText(b, last)) return last;
  const s = b.toString("latin1");
  LAST_VALUE[known] = s;
  return s;
}

/** Header names the upstream's Connection header lists (lowercase), or null for none. */
function connectionTokens(raw: Buffer[], start: number): string[] | null {
  let out: string[] | null = null;
  for (let i = start; i < raw.length; i += 2) {
    if (!bytesAre(raw[i], 0, raw[i].length, "connection")) continue;
    for (const t of raw[i + 1].toString("latin1").split(",")) {
      const name = t.trim().toLowerCase();
      if (name === "" || name === "close" || name === "keep-alive" || name === "upgrade") continue;
      // Framing headers are never dropped: the body would lose its length.
      if (name === "host" || name === "content-length" || name === "transfer-encoding") continue;
      out ??= [];
      out.push(name);
    }
  }
  return out;
}

export interface HeadExtras {
  requestId: string;
  /** Response header naming the member ("" = off); replaces an upstream header of that name. */
  memberHeader: string;
  member: string;
  ringVersionHeader: string;
  ringVersion: number;
  /** A Set-Cookie line to add ("" = none). */
  issuedCookie: string;
  /** The client connection's fate: "keep-alive" or "close" (so Node adds no Keep-Alive header); "" for HTTP/2 clients, which have no Connection header. */
  connection: string;
}

/** Whether undici's raw response headers carry a Content-Length (read for HTTP/1.0 clients only). */
export function hasContentLength(raw: Buffer[]): boolean {
  for (let i = 0; i < raw.length; i += 2)
    if (bytesAre(raw[i], 0, raw[i].length, "content-length")) return true;
  return false;
}

/** The flat header list for `res.writeHead` from undici's raw response headers. */
export function responseHead(raw: Buffer[], x: HeadExtras): string[] {
  const out: string[] = [];
  let tokens: string[] | null = null;
  let hasRequestId = false;
  let tokensScanned = false;
  for (let i = 0; i < raw.length; i += 2) {
    const known = knownIndex(raw[i]);
    const name = known >= 0 ? KNOWN[known] : raw[i].toString("latin1").toLowerCase();
    if (isHopByHop(name)) {
      if (name === "connection" && !tokensScanned && namesHeaders(raw[i + 1])) {
        tokensScanned = true;
        tokens = connectionTokens(raw, i);
      }
      continue;
    }
    if (name === x.memberHeader || name === x.ringVersionHeader) continue;
    if (name === "x-request-id") hasRequestId = true;
    out.push(name, valueText(raw[i + 1], known));
  }
  if (tokens !== null) {
    // Rare: the upstream named extra hop-by-hop headers; take them out of the list.
    for (let i = out.length - 2; i >= 0; i -= 2) if (tokens.includes(out[i])) out.splice(i, 2);
  }
  if (!hasRequestId) out.push("x-request-id", x.requestId);
  if (x.memberHeader !== "") out.push(x.memberHeader, x.member);
  if (x.ringVersionHeader !== "") out.push(x.ringVersionHeader, String(x.ringVersion));
  if (x.issuedCookie !== "") out.push("set-cookie", x.issuedCookie);
  if (x.connection !== "") out.push("connection", x.connection);
  return out;
}
