// The client's response head on the undici engine, built straight from undici's raw header
// pairs into the flat [name, value, ...] list `res.writeHead` takes: no header object per
// response and no setHeader call (each validates, lowercases and stores into the response's
// header map) per header. The same rules as the http-proxy-3 path (headers.ts): hop-by-hop
// headers and any header the upstream's Connection names stay on the upstream hop,
// Transfer-Encoding is left to Node's own framing, shardgate's headers are added. Repeated
// headers stay repeated lines (Set-Cookie must; for the others it is the same message).

/** ASCII lowercase of each byte (other bytes unchanged): one table load per compared byte. */
const LOWER = new Uint8Array(256);
for (let i = 0; i < 256; i++) LOWER[i] = i >= 0x41 && i <= 0x5a ? i | 0x20 : i;

/** Whether `b` (from..to) equals the lowercase token `t` (its bytes), ASCII letters compared case-insensitively. */
function bytesAre(b: Buffer, from: number, to: number, t: Uint8Array): boolean {
  if (to - from !== t.length) return false;
  for (let i = 0; i < t.length; i++) if (LOWER[b[from + i]] !== t[i]) return false;
  return true;
}

function lowerBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const T_KEEP_ALIVE = lowerBytes("keep-alive");
const T_CLOSE = lowerBytes("close");
const T_UPGRADE = lowerBytes("upgrade");
const T_CONTENT_LENGTH = lowerBytes("content-length");

/** Whether a Connection value may name headers: anything but a lone keep-alive / close / upgrade (read as bytes: no string per response). */
function namesHeaders(value: Buffer): boolean {
  let from = 0;
  let to = value.length;
  while (from < to && (value[from] === 0x20 || value[from] === 0x09)) from++;
  while (to > from && (value[to - 1] === 0x20 || value[to - 1] === 0x09)) to--;
  if (from === to) return false;
  return !(
    bytesAre(value, from, to, T_KEEP_ALIVE) ||
    bytesAre(value, from, to, T_CLOSE) ||
    bytesAre(value, from, to, T_UPGRADE)
  );
}

// Response header names most upstreams send: matched against the raw bytes, so the common
// names cost no string (and no lowercase copy) per response. Lowercase letters and '-' only.
// KNOWN[k] is the interned name, KNOWN_BYTES[k] its bytes, HOP[k] 1 for the hop-by-hop ones
// (plus transfer-encoding: Node re-frames the body).
const KNOWN = [
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
];
const HOP_NAMES = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "transfer-encoding",
];
const KNOWN_BYTES = KNOWN.map(lowerBytes);
const HOP = new Uint8Array(KNOWN.length);
for (const n of HOP_NAMES) HOP[KNOWN.indexOf(n)] = 1;
const CONNECTION = KNOWN.indexOf("connection");
const X_REQUEST_ID = KNOWN.indexOf("x-request-id");

// The one candidate per (length, first letter): a name is looked up with one table load and
// compared once, not against every known name of its length. No two known names share both.
const MAX_KNOWN_LENGTH = 17;
const CANDIDATE = new Int8Array((MAX_KNOWN_LENGTH + 1) * 128).fill(-1);
KNOWN.forEach((n, k) => {
  const slot = n.length * 128 + n.charCodeAt(0);
  if (n.length > MAX_KNOWN_LENGTH || CANDIDATE[slot] !== -1) throw new Error(`undici-head: no slot for ${n}`);
  CANDIDATE[slot] = k;
});

/** The index in KNOWN of the header name in `b` (any case), or -1. */
function knownIndex(b: Buffer): number {
  const n = b.length;
  if (n === 0 || n > MAX_KNOWN_LENGTH) return -1;
  const first = LOWER[b[0]];
  if (first >= 128) return -1;
  const k = CANDIDATE[n * 128 + first];
  return k >= 0 && bytesAre(b, 0, n, KNOWN_BYTES[k]) ? k : -1;
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
/** LAST_VALUE's bytes (room for MAX_KEPT_VALUE each) and lengths: compared byte to byte, not against the string. */
const LAST_BYTES: Uint8Array[] = KNOWN.map(() => new Uint8Array(MAX_KEPT_VALUE));
const LAST_LENGTH = new Int32Array(KNOWN.length);

/** A header value as latin1 text (as Node's parser reads it), reusing the last one of a known name. */
function valueText(b: Buffer, known: number): string {
  const n = b.length;
  if (known < 0 || n > MAX_KEPT_VALUE) return b.toString("latin1");
  const last = LAST_BYTES[known];
  if (LAST_LENGTH[known] === n) {
    let i = 0;
    while (i < n && b[i] === last[i]) i++;
    if (i === n) return LAST_VALUE[known];
  }
  const s = b.toString("latin1");
  LAST_VALUE[known] = s;
  LAST_LENGTH[known] = n;
  for (let i = 0; i < n; i++) last[i] = b[i];
  return s;
}

/** Header names the upstream's Connection header lists (lowercase), or null for none. */
function connectionTokens(raw: Buffer[], start: number): string[] | null {
  let out: string[] | null = null;
  for (let i = start; i < raw.length; i += 2) {
    if (!bytesAre(raw[i], 0, raw[i].length, KNOWN_BYTES[CONNECTION])) continue;
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
    if (bytesAre(raw[i], 0, raw[i].length, T_CONTENT_LENGTH)) return true;
  return false;
}

/**
 * The flat header list for `res.writeHead` from undici's raw response headers, made in `out`
 * (overwritten from its start and cut to length at the end; the data plane passes one list it
 * reuses for every head, read by Node within writeHead and never kept). Written by index, not
 * emptied and pushed: `length = 0` gives up the array's storage, so each head grew a new one.
 */
export function responseHead(raw: Buffer[], x: HeadExtras, out: string[] = []): string[] {
  let n = 0;
  let tokens: string[] | null = null;
  let hasRequestId = false;
  let tokensScanned = false;
  for (let i = 0; i < raw.length; i += 2) {
    const known = knownIndex(raw[i]);
    if (known >= 0 && HOP[known] === 1) {
      if (known === CONNECTION && !tokensScanned && namesHeaders(raw[i + 1])) {
        tokensScanned = true;
        tokens = connectionTokens(raw, i);
      }
      continue;
    }
    const name = known >= 0 ? KNOWN[known] : raw[i].toString("latin1").toLowerCase();
    if (name === x.memberHeader || name === x.ringVersionHeader) continue;
    if (known === X_REQUEST_ID) hasRequestId = true;
    out[n++] = name;
    out[n++] = valueText(raw[i + 1], known);
  }
  if (tokens !== null) {
    // Rare: the upstream named extra hop-by-hop headers; take them out of the list in one pass.
    // (An includes and a splice per header grew with headers x tokens: 600 headers all named
    // took 0.5 ms, 6,000 took 94 ms; test/outside/complexity-parsers.test.ts.)
    const named = new Set(tokens);
    let w = 0;
    for (let r = 0; r < n; r += 2) {
      if (named.has(out[r])) continue;
      out[w++] = out[r];
      out[w++] = out[r + 1];
    }
    n = w;
    // A member's X-Request-Id it named hop-by-hop is gone: the request's id is added instead.
    if (named.has("x-request-id")) hasRequestId = false;
  }
  if (!hasRequestId) {
    out[n++] = "x-request-id";
    out[n++] = x.requestId;
  }
  if (x.memberHeader !== "") {
    out[n++] = x.memberHeader;
    out[n++] = x.member;
  }
  if (x.ringVersionHeader !== "") {
    out[n++] = x.ringVersionHeader;
    out[n++] = String(x.ringVersion);
  }
  if (x.issuedCookie !== "") {
    out[n++] = "set-cookie";
    out[n++] = x.issuedCookie;
  }
  if (x.connection !== "") {
    out[n++] = "connection";
    out[n++] = x.connection;
  }
  out.length = n;
  return out;
}
