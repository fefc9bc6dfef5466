// GET /ui: the dashboard page. A strict content security policy backs the "no outside
// network" promise: the page may load nothing and connect nowhere but this admin port. The
// page shows strings from discovery, clients and neighbours; its script sets them as text, and
// should markup ever get in anyway, nothing of it runs: the only script allowed is the page's
// own, by its hash (no 'unsafe-inline': no injected <script>, no onerror= / onclick= handler).
// Styles the same: only the page's own <style>, by its hash, and no style="" attribute, so
// injected markup cannot restyle the page (hide a row, lay a fake token prompt over it); the
// script colours its swatches through the CSSOM, which the policy does not govern.

import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DASHBOARD_HTML } from "./ui/dashboard-page.js";
import { DASHBOARD_JS } from "./ui/dashboard-script.js";
import { DASHBOARD_CSS } from "./ui/dashboard-style.js";

/** The hash of the page's one inline script, as CSP takes it (over its UTF-8 text). */
const SCRIPT_HASH = `'sha256-${createHash("sha256").update(DASHBOARD_JS, "utf8").digest("base64")}'`;

/** The hash of the page's one <style> element: no other stylesheet, no style="" attribute. */
const STYLE_HASH = `'sha256-${createHash("sha256").update(DASHBOARD_CSS, "utf8").digest("base64")}'`;

const CSP = `default-src 'none'; script-src ${SCRIPT_HASH}; script-src-attr 'none'; style-src ${STYLE_HASH}; style-src-attr 'none'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** Answers /ui and /ui/; false for any other path. */
export function serveUi(req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (path !== "/ui" && path !== "/ui/") return false;
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET", "content-type": "application/json" });
    res.end('{"error":"method_not_allowed","message":"use GET"}\n');
    return true;
  }
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(DASHBOARD_HTML),
    "cache-control": "no-store",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    // frame-ancestors' older spelling, for browsers that predate CSP level 2.
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
  });
  res.end(req.method === "HEAD" ? undefined : DASHBOARD_HTML);
  return true;
}
