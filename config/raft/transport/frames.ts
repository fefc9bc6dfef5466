// Wire frames of the Raft transport: u32be length | u8 type | body, length covering type+body.
//   HELLO     client->server  u8 version | u8 n | sender id | u8 n | receiver id | 16B client nonce
//             version 2 adds: u8 n | the sender's cluster id (sent only by a node that holds one,
//             which it adopts only once the whole fleet runs a build that reads version 2)
//   CHALLENGE server->client  16B server nonce | 32B HMAC proving the server knows the secret
//   AUTH      client->server  32B HMAC proving the client knows the secret (binds its id)
//   DATA      client->server  u48be seq | u32be count | (u32be len | payload)* | 32B HMAC
//   REFUSE    server->client  utf8 text: why a version-2 hello was refused (another cluster),
//             sent only in answer to a version-2 hello, then the server closes
// Connections carry data one way: each instance dials every peer for its own outbound traffic.

export const PROTOCOL_VERSION = 1;
/** A HELLO that names the sender's cluster id (cluster-identity.ts). */
export const PROTOCOL_VERSION_CLUSTER = 2;
export const FRAME_HELLO = 1;
export const FRAME_CHALLENGE = 2;
export const FRAME_AUTH = 3;
export const FRAME_DATA = 4;
export const FRAME_REFUSE = 5;
export const NONCE_BYTES = 16;
export const MAC_BYTES = 32;
export const LENGTH_BYTES = 4;
/** Largest frame of the handshake (a HELLO with two 255-byte ids), rounded up. */
export const HANDSHAKE_FRAME_BYTES = 1024;
const DATA_FIXED = 1 + 6 + 4;

export class FrameError extends Error {
  readonly reason: "oversized" | "malformed";
  constructor(reason: "oversized" | "malformed", message: string) {
    super(message);
    this.reason = reason;
  }
}

function frame(type: number, bodyLength: number): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + 1 + bodyLength);
  out.writeUInt32BE(1 + bodyLength, 0);
  out[LENGTH_BYTES] = type;
  return out;
}

/**
 * The largest payload a DATA frame of at most `maxFrameBytes` can carry (alone in its frame):
 * a larger one would be refused by every receiver with the same limit.
 */
export function maxDataPayloadBytes(maxFrameBytes: number): number {
  return maxFrameBytes - (DATA_FIXED + 4 + MAC_BYTES);
}

/** A version-1 HELLO without `cluster`, a version-2 one naming it. */
export function encodeHello(from: string, to: string, nonce: Buffer, cluster?: string): Buffer {
  const f = Buffer.from(from, "utf8");
  const t = Buffer.from(to, "utf8");
  const c = cluster === undefined ? null : Buffer.from(cluster, "utf8");
  if (f.length > 255 || t.length > 255) throw new Error("node ids must be at most 255 bytes");
  if (c !== null && c.length > 255) throw new Error("cluster ids must be at most 255 bytes");
  const extra = c === null ? 0 : 1 + c.length;
  const out = frame(FRAME_HELLO, 1 + 1 + f.length + 1 + t.length + NONCE_BYTES + extra);
  let at = LENGTH_BYTES + 1;
  out[at++] = c === null ? PROTOCOL_VERSION : PROTOCOL_VERSION_CLUSTER;
  out[at++] = f.length;
  at += f.copy(out, at);
  out[at++] = t.length;
  at += t.copy(out, at);
  at += nonce.copy(out, at);
  if (c !== null) {
    out[at++] = c.length;
    c.copy(out, at);
  }
  return out;
}

export interface Hello {
  version: number;
  from: string;
  to: string;
  nonce: Buffer;
  /** Version 2: the sender's cluster id. Undefined for version 1. */
  cluster?: string;
}

/** `body` excludes the length and type bytes. */
export function decodeHello(body: Buffer): Hello {
  if (body.length < 2) throw new FrameError("malformed", "hello too short");
  const version = body[0];
  const fl = body[1];
  if (body.length < 2 + fl + 1) throw new FrameError("malformed", "hello too short");
  const from = body.toString("utf8", 2, 2 + fl);
  const tl = body[2 + fl];
  const nonceAt = 3 + fl + tl;
  const end = nonceAt + NONCE_BYTES;
  let cluster: string | undefined;
  if (version === PROTOCOL_VERSION_CLUSTER) {
    if (body.length < end + 1) throw new FrameError("malformed", "hello has the wrong length");
    const cl = body[end];
    if (body.length !== end + 1 + cl) throw new FrameError("malformed", "hello has the wrong length");
    cluster = body.toString("utf8", end + 1);
  } else if (body.length !== end) throw new FrameError("malformed", "hello has the wrong length");
  const to = body.toString("utf8", 3 + fl, nonceAt);
  if (from.length === 0 || to.length === 0) throw new FrameError("malformed", "hello with an empty id");
  return { version, from, to, nonce: Buffer.from(body.subarray(nonceAt, end)), cluster };
}

/** Why the server refused a version-2 hello (at most 255 bytes of text). */
export function encodeRefuse(text: string): Buffer {
  const b = Buffer.from(text, "utf8").subarray(0, 255);
  const out = frame(FRAME_REFUSE, b.length);
  b.copy(out, LENGTH_BYTES + 1);
  return out;
}

export function encodeChallenge(nonce: Buffer, mac: Buffer): Buffer {
  const out = frame(FRAME_CHALLENGE, NONCE_BYTES + MAC_BYTES);
  nonce.copy(out, LENGTH_BYTES + 1);
  mac.copy(out, LENGTH_BYTES + 1 + NONCE_BYTES);
  return out;
}

export function encodeAuth(mac: Buffer): Buffer {
  const out = frame(FRAME_AUTH, MAC_BYTES);
  mac.copy(out, LENGTH_BYTES + 1);
  return out;
}

/**
 * Encodes payloads[from, to) as one DATA frame with the MAC left zeroed; returns the frame
 * and the range the MAC must cover (seq through the last payload byte).
 */
export function encodeDataUnsigned(
  seq: number,
  payloads: readonly Uint8Array[],
  from: number,
  to: number,
): Buffer {
  let body = DATA_FIXED - 1;
  for (let k = from; k < to; k++) body += 4 + payloads[k].length;
  const out = frame(FRAME_DATA, body + MAC_BYTES);
  let at = LENGTH_BYTES + 1;
  out.writeUIntBE(seq, at, 6);
  at += 6;
  out.writeUInt32BE(to - from, at);
  at += 4;
  for (let k = from; k < to; k++) {
    const p = payloads[k];
    out.writeUInt32BE(p.length, at);
    at += 4;
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The bytes of a DATA frame covered by its MAC: type byte excluded, seq..payloads. */
export function dataMacRange(frameBuf: Buffer): Buffer {
  return frameBuf.subarray(LENGTH_BYTES + 1, frameBuf.length - MAC_BYTES);
}

export interface DataFrame {
  seq: number;
  /** Covered by the MAC: seq..payloads. */
  signed: Buffer;
  mac: Buffer;
  payloads: Buffer[];
}

export function decodeData(body: Buffer): DataFrame {
  if (body.length < 6 + 4 + MAC_BYTES) throw new FrameError("malformed", "data frame too short");
  const signed = body.subarray(0, body.length - MAC_BYTES);
  const mac = body.subarray(body.length - MAC_BYTES);
  const seq = body.readUIntBE(0, 6);
  const count = body.readUInt32BE(6);
  const payloads: Buffer[] = [];
  let at = 10;
  for (let k = 0; k < count; k++) {
    if (at + 4 > signed.length)
      throw new FrameError("malformed", "data frame payload count overruns the frame");
    const n = signed.readUInt32BE(at);
    at += 4;
    if (at + n > signed.length)
      throw new FrameError("malformed", "data frame payload length overruns the frame");
    payloads.push(signed.subarray(at, at + n));
    at += n;
  }
  if (at !== signed.length) throw new FrameError("malformed", "trailing bytes in data frame");
  return { seq, signed, mac, payloads };
}

/**
 * Reassembles frames from a byte stream without copying in the common case. Rejects a
 * declared length above `maxFrameBytes` as soon as the 4 length bytes arrive.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private maxFrameBytes: number;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Changes the size limit, e.g. raised from HANDSHAKE_FRAME_BYTES once the peer authenticated. */
  setLimit(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Feeds bytes; calls onFrame(type, body) per complete frame. Throws FrameError. */
  push(chunk: Buffer, onFrame: (type: number, body: Buffer) => boolean): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= LENGTH_BYTES) {
      const head = this.peek(LENGTH_BYTES);
      const len = head.readUInt32BE(0);
      if (len === 0) throw new FrameError("malformed", "zero-length frame");
      if (len > this.maxFrameBytes)
        throw new FrameError("oversized", `frame of ${len} bytes exceeds ${this.maxFrameBytes}`);
      if (this.buffered < LENGTH_BYTES + len) return;
      const whole = this.take(LENGTH_BYTES + len);
      if (!onFrame(whole[LENGTH_BYTES], whole.subarray(LENGTH_BYTES + 1))) return;
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0];
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}
