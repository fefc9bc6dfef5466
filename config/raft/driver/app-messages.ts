// The application-message channel: opaque bytes for the application that share the
// authenticated transport with Raft traffic. A payload starting with "SA" + version is not a
// Raft batch ("RF" ...): it is never stepped into Raft and never persisted, and delivery is
// best effort (dropped while a peer is cut or unreachable).

const APP_MAGIC_0 = 0x53;
const APP_MAGIC_1 = 0x41;
const APP_VERSION = 1;
const APP_HEADER = 3;
/** Largest application message body sendAppMessage accepts. */
export const MAX_APP_MESSAGE_BYTES = 1024 * 1024;

/** True when a transport payload belongs to the application channel rather than to Raft. */
export function isAppPayload(payload: Uint8Array): boolean {
  return payload.length >= 2 && payload[0] === APP_MAGIC_0 && payload[1] === APP_MAGIC_1;
}

/** The body of an application payload, or null when its version or size is not acceptable. */
export function appPayloadBody(payload: Buffer): Buffer | null {
  if (payload.length < APP_HEADER || payload[2] !== APP_VERSION) return null;
  const body = payload.subarray(APP_HEADER);
  return body.length > MAX_APP_MESSAGE_BYTES ? null : body;
}

/** Frames `body` for the wire (the caller has checked its size). */
export function encodeAppPayload(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(APP_HEADER + body.length);
  out[0] = APP_MAGIC_0;
  out[1] = APP_MAGIC_1;
  out[2] = APP_VERSION;
  out.set(body, APP_HEADER);
  return out;
}
