// The attributes of a cookie shardgate sets (the missing-key cookie, the affinity cookie):
// name, lifetime and the Set-Cookie flags, with the browser rule that a SameSite=None
// cookie must be Secure checked up front.

import { z } from "zod";
import { parseDuration } from "./units.js";
import { field } from "./zod-field.js";

export const SAME_SITE = ["lax", "strict", "none"] as const;
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Browsers cap a cookie's Max-Age at 400 days (RFC 6265bis); it never drives a timer here. */
const COOKIE_MAX_TTL_MS = 400 * 86_400_000;

/** A cookie's schema with `defaultName`. */
export function cookieSchema(defaultName: string) {
  return z
    .strictObject({
      name: z.string().regex(COOKIE_NAME, { error: "expected a cookie name" }).default(defaultName),
      ttl: field((v) => parseDuration(v, COOKIE_MAX_TTL_MS)).default(86_400_000),
      secure: z.boolean().default(false),
      httpOnly: z.boolean().default(true),
      sameSite: z.enum(SAME_SITE).default("lax"),
      path: z.string().startsWith("/", { error: 'expected a path starting with "/"' }).default("/"),
    })
    .check((ctx) => {
      if (ctx.value.sameSite === "none" && !ctx.value.secure) {
        ctx.issues.push({
          code: "custom",
          path: ["secure"],
          input: ctx.value.secure,
          message: 'browsers reject sameSite "none" cookies unless secure is true',
          params: { expected: 'true when sameSite is "none"' },
        });
      }
    });
}
