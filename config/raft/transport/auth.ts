// The transport's authentication: HMAC-SHA256 with the cluster's shared secret.
// The handshake binds a connection to (sender, receiver, client nonce, server nonce), so a
// recorded session replayed on a new connection fails (the server picks a fresh nonce), and
// each DATA frame's MAC covers its sequence number, so a frame replayed inside a session fails.
// A version-2 hello's cluster id is bound into both proofs and the session key (`cluster`
// undefined for version 1: the same MACs as before, so the previous version still talks).
import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from "node:crypto";
import { MAC_BYTES, NONCE_BYTES } from "./frames.js";

export function secretKey(secret: string | Uint8Array): KeyObject {
  const buf = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (buf.length < 16) throw new Error("transport secret must be at least 16 bytes");
  return createSecretKey(buf);
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

function mac(key: KeyObject, label: string, parts: readonly (string | Buffer)[]): Buffer {
  const h = createHmac("sha256", key);
  h.update(label);
  for (const p of parts) {
    // Length-prefix every field so ("ab","c") and ("a","bc") never collide.
    const b = typeof p === "string" ? Buffer.from(p, "utf8") : p;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length, 0);
    h.update(len);
    h.update(b);
  }
  return h.digest();
}

function withCluster(parts: (string | Buffer)[], cluster: string | undefined): (string | Buffer)[] {
  if (cluster !== undefined) parts.push(cluster);
  return parts;
}

/** What the server proves: it knows the secret and answers this client's nonce as `server`. */
export function serverProof(
  key: KeyObject,
  server: string,
  client: string,
  cNonce: Buffer,
  sNonce: Buffer,
  cluster?: string,
): Buffer {
  return mac(key, "shardgate-raft/server", withCluster([server, client, cNonce, sNonce], cluster));
}

/** What the client proves: it knows the secret and speaks as `client` in this very session. */
export function clientProof(
  key: KeyObject,
  client: string,
  server: string,
  sNonce: Buffer,
  cNonce: Buffer,
  cluster?: string,
): Buffer {
  return mac(key, "shardgate-raft/client", withCluster([client, server, sNonce, cNonce], cluster));
}

/** The key that signs this session's DATA frames (sender -> receiver). */
export function sessionKey(
  key: KeyObject,
  from: string,
  to: string,
  cNonce: Buffer,
  sNonce: Buffer,
  cluster?: string,
): KeyObject {
  return createSecretKey(
    mac(key, "shardgate-raft/session", withCluster([from, to, cNonce, sNonce], cluster)),
  );
}

export function signData(session: KeyObject, signed: Buffer): Buffer {
  return createHmac("sha256", session).update(signed).digest();
}

export function macEqual(a: Buffer, b: Buffer): boolean {
  return a.length === MAC_BYTES && b.length === MAC_BYTES && timingSafeEqual(a, b);
}
