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

/** Whether a Connection value may name headers: anything but a lone keep-alive / close / upgrade. */
function namesHeaders(value: Buffer): boolean {
  if (value.length > 10 || value.includes(0x2c /* , */)) return true;
  const v = value.toString("latin1").trim().toLowerCase();
  return !(v === "" || v === "keep-alive" || v === "close" || v === "upgrade");
}

/** Header names the upstream's Connection header lists (lowercase), or null for none. */
function connectionTokens(raw: Buffer[], start: number): string[] | null {
  let out: string[] | null = null;
  for (let i = start; i < raw.length; i += 2) {
    if (raw[i].length !== 10 || raw[i].toString("latin1").toLowerCase() !== "connection") continue;
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

/** The flat header list for `res.writeHead` from undici's raw response headers. */
export function responseHead(raw: Buffer[], x: HeadExtras): string[] {
  const out: string[] = [];
  let tokens: string[] | null = null;
  let hasRequestId = false;
  let tokensScanned = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toString("latin1").toLowerCase();
    if (isHopByHop(name)) {
      if (name === "connection" && !tokensScanned && namesHeaders(raw[i + 1])) {
        tokensScanned = true;
        tokens = connectionTokens(raw, i);
      }
      continue;
    }
    if (name === x.memberHeader || name === x.ringVersionHeader) continue;
    if (name === "x-request-id") hasRequestId = true;
    out.push(name, raw[i + 1].toString("latin1"));
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
