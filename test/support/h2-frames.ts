// Raw HTTP/2 frames for tests that speak to the listener from a plain socket (what no
// well-behaved client library would send: floods, resets in the opening packet).

/** One frame: 9-byte header (length, type, flags, stream id) and its payload. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal header field without indexing, new name (short names and values only). */
export function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
export function hpackInt(prefixBits: number, first: number, n: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (n < max) return Buffer.from([first | n]);
  const out = [first | max];
  let rest = n - max;
  while (rest >= 128) {
    out.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/**
 * An HPACK-amplified field: `x-big: A*4000` added to the dynamic table (literal with incremental
 * indexing, new name) and named again `copies - 1` times by its index (62, one byte 0xbe each):
 * ~4.1 KB of block that decodes to `copies` x 4 KB. Index 62 assumes nothing else was indexed on
 * the connection before it.
 */
export function amplifiedField(copies: number): Buffer {
  const name = Buffer.from("x-big");
  const value = Buffer.from("A".repeat(4_000));
  return Buffer.concat([
    Buffer.from([0x40]),
    hpackInt(7, 0, name.length),
    name,
    hpackInt(7, 0, value.length),
    value,
    Buffer.alloc(copies - 1, 0xbe),
  ]);
}
