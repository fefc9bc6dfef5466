// GET /ui: the dashboard page. A strict content security policy backs the "no outside
// network" promise: the page may load nothing and connect nowhere but this admin port.

import type { IncomingMessage, ServerResponse } from "node:http";
import { DASHBOARD_HTML } from "./ui/dashboard-page.js";

const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

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
    "referrer-policy": "no-referrer",
  });
  res.end(req.method === "HEAD" ? undefined : DASHBOARD_HTML);
  return true;
}
