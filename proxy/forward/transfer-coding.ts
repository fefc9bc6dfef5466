// Whether an upstream response's Transfer-Encoding can be relayed. Node re-frames every relayed
// body as chunked (or by length) and never forwards the upstream's Transfer-Encoding, so only a
// list whose final coding is chunked can be relayed: the proxy removes that chunked framing and
// any coding before it would have to reach the client named, which it is not. A list ending in
// another coding (`gzip`, `chunked, gzip`) makes the body "read until close" in a coding the
// client is never told about (RFC 9112 sections 6.1 and 6.3). As nginx does, such an answer is
// a bad response: 502 upstream_bad_response, before any byte, and its connection is closed.

/** The attempt's error for an answer whose transfer coding cannot be relayed (a bad response). */
export const BAD_TRANSFER_CODING: Error & { code: string } = Object.assign(
  new Error("the upstream's Transfer-Encoding does not end in chunked"),
  { code: "ESHARDGATE_BAD_TRANSFER_CODING" },
);

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

const CHUNKED = "chunked";

/** The byte or char code at `i` (a module function: no closure per response). */
function at(b: Buffer | string, i: number): number {
  return typeof b === "string" ? b.charCodeAt(i) : b[i];
}

/** Whether `b` holds a coding list whose last coding is chunked (any case, optional spaces). */
function endsInChunked(b: Buffer | string): boolean {
  let to = b.length;
  while (to > 0 && isSpace(at(b, to - 1))) to--;
  const from = to - CHUNKED.length;
  if (from < 0) return false;
  for (let i = 0; i < CHUNKED.length; i++)
    if ((at(b, from + i) | 0x20) !== CHUNKED.charCodeAt(i)) return false;
  // The token starts the list or follows a comma (spaces between).
  let i = from - 1;
  while (i >= 0 && isSpace(at(b, i))) i--;
  return i < 0 || at(b, i) === 0x2c;
}

/** Whether `b` is the header name transfer-encoding, any case. */
function isTransferEncoding(b: Buffer): boolean {
  const t = "transfer-encoding";
  if (b.length !== t.length) return false;
  for (let i = 0; i < t.length; i++) if ((b[i] | 0x20) !== t.charCodeAt(i)) return false;
  return true;
}

/** undici's raw [name, value, ...] head: false when its (last) Transfer-Encoding does not end in chunked. */
export function rawCodingRelayable(raw: Buffer[]): boolean {
  let last: Buffer | null = null;
  for (let i = 0; i < raw.length; i += 2) if (isTransferEncoding(raw[i])) last = raw[i + 1];
  return last === null || endsInChunked(last);
}

/** Node's parsed head (repeated Transfer-Encoding lines joined by ", "): the same rule. */
export function codingRelayable(value: string | string[] | undefined): boolean {
  if (value === undefined) return true;
  return endsInChunked(typeof value === "string" ? value : value.join(", "));
}
