// Bearer-token check for the mutating admin endpoints. No token configured disables them
// (403) rather than leaving them open; a wrong token is 401. The comparison hashes both
// sides first so timingSafeEqual sees equal lengths and the time taken says nothing about
// how much of the token matched, or how long it is.

import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export type AuthResult = { ok: true } | { ok: false; status: 401 | 403; code: string; message: string };

const OK: AuthResult = { ok: true };

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** Checks `Authorization: Bearer <token>` against the configured token ("" = admin writes disabled). */
export function checkAdminToken(req: IncomingMessage, configured: string): AuthResult {
  if (configured === "") {
    return {
      ok: false,
      status: 403,
      code: "admin_disabled",
      message: "mutating admin endpoints are disabled: set admin.token in the config to enable them",
    };
  }
  const header = req.headers.authorization ?? "";
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  const presented = m === null ? "" : m[1];
  // Compare even when the header is missing or malformed, so every refusal costs the same.
  const equal = timingSafeEqual(digest(presented), digest(configured));
  if (m !== null && equal) return OK;
  return {
    ok: false,
    status: 401,
    code: "unauthorized",
    message: "missing or wrong bearer token (send Authorization: Bearer <admin.token>)",
  };
}
