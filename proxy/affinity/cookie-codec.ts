// The affinity cookie's value: which member a client sticks to, authenticated so a client
// cannot choose its member and every instance of the fleet accepts every other's cookie.
//
//   value = base64url(member id) "." expiry (unix seconds, base 36) "." base64url(mac)
//   mac   = first 16 bytes of HMAC-SHA256(key, "v1\n" pool "\n" member "\n" expiry)
//
// The key is derived (HKDF-SHA256) from the cluster secret, which every instance of a fleet
// shares; without one, each process generates its own random key, so a cookie is honoured
// only by the instance that issued it (others route by the ring and re-issue). Verified
// values are remembered (bounded), so a returning client costs one map lookup, not an HMAC.

import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { retainedKey } from "./retained-key.js";

const MAC_BYTES = 16;
const MAX_VALUE_LENGTH = 512;
const VERIFIED_MAX = 10_000;

/** A member a cookie names, and until when (unix seconds) the cookie is valid. */
interface Verified {
  readonly pool: string;
  readonly member: string;
  readonly expires: number;
}

export class CookieCodec {
  private readonly key: Buffer;
  /** Cookie value -> what it verified as. Only valid values enter, so forgeries cannot fill it. */
  private readonly verified = new Map<string, Verified>();

  /** `secret` "" = a random per-process key (see the header comment). */
  constructor(secret: string) {
    const ikm = secret === "" ? randomBytes(32) : Buffer.from(secret, "utf8");
    this.key = Buffer.from(hkdfSync("sha256", ikm, "shardgate", "affinity-cookie-v1", 32));
  }

  private mac(pool: string, member: string, expires: number): Buffer {
    return createHmac("sha256", this.key)
      .update(`v1\n${pool}\n${member}\n${expires}`)
      .digest()
      .subarray(0, MAC_BYTES);
  }

  /** The cookie value naming `member` of `pool` until `expires` (unix seconds). */
  sign(pool: string, member: string, expires: number): string {
    const id = Buffer.from(member, "utf8").toString("base64url");
    return `${id}.${expires.toString(36)}.${this.mac(pool, member, expires).toString("base64url")}`;
  }

  /** The member a value names for `pool`, or null when it is malformed, forged, foreign or expired. */
  verify(pool: string, value: string, nowSec: number): string | null {
    const known = this.verified.get(value);
    if (known !== undefined) {
      if (known.pool === pool && known.expires > nowSec) return known.member;
      if (known.expires <= nowSec) this.verified.delete(value);
      return null;
    }
    if (value.length === 0 || value.length > MAX_VALUE_LENGTH) return null;
    const dot1 = value.indexOf(".");
    const dot2 = dot1 < 0 ? -1 : value.indexOf(".", dot1 + 1);
    if (dot1 <= 0 || dot2 < 0 || value.indexOf(".", dot2 + 1) >= 0) return null;
    const member = Buffer.from(value.slice(0, dot1), "base64url").toString("utf8");
    const expText = value.slice(dot1 + 1, dot2);
    if (!/^[0-9a-z]{1,10}$/.test(expText)) return null;
    const expires = Number.parseInt(expText, 36);
    const given = Buffer.from(value.slice(dot2 + 1), "base64url");
    if (given.length !== MAC_BYTES || member === "") return null;
    // Constant-time compare: a timing leak would let a client forge a MAC byte by byte.
    if (!timingSafeEqual(given, this.mac(pool, member, expires))) return null;
    if (expires <= nowSec) return null;
    if (this.verified.size >= VERIFIED_MAX) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    // Its own copy: the value is a slice of the request's Cookie header, which it would keep alive.
    this.verified.set(retainedKey(value), { pool, member, expires });
    return member;
  }
}
