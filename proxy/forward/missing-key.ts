// The cookie missing-key policy: a request without a key gets a fresh random id, is routed
// by it, and the response sets it as a cookie (Envoy's cookie hash policy with a ttl), so
// the client's next request carries the key and sticks to the same member.

import { randomUUID } from "node:crypto";
import type { CookieConfig } from "../../config/file/schema.js";

export function newStickyId(): string {
  return randomUUID();
}

const SAME_SITE: Record<CookieConfig["sameSite"], string> = { lax: "Lax", strict: "Strict", none: "None" };

/** The Set-Cookie value for `id` under `cookie` (ttl in ms -> Max-Age in whole seconds). */
export function stickyCookie(cookie: CookieConfig, id: string): string {
  let v = `${cookie.name}=${id}; Path=${cookie.path}; Max-Age=${Math.max(0, Math.floor(cookie.ttl / 1000))}`;
  if (cookie.httpOnly) v += "; HttpOnly";
  if (cookie.secure) v += "; Secure";
  v += `; SameSite=${SAME_SITE[cookie.sameSite]}`;
  return v;
}
