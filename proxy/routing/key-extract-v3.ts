// The key rules of feature level 3 (the build before s14's key spelling rules), kept so a
// clustered instance reads keys as the fleet's older builds do until the committed cluster
// level has level 4 (config/raft/core/feature-level.ts LEVEL_KEY_SPELLING). Exactly the previous
// rules: a header sent twice is its first line, a path segment and a query parameter's name are
// raw text (a value with a bad escape is its raw text), and an X-Forwarded-For / Forwarded entry
// is only unmapped from ::ffff:a.b.c.d. Compiled into a KeyPlan's keys (key-extract.ts) so a
// request pays nothing for the choice.

import type { IncomingMessage } from "node:http";
import { unmapIPv4 } from "./address-text.js";
import type { TrustedList } from "./cidr-match.js";
import { forwardedFor } from "./forwarded.js";

/** A header key at level 3: a repeated field as an array gives its first line. */
export function headerValueV3(req: IncomingMessage, name: string): string {
  const h = req.headers[name];
  return typeof h === "string" ? h : Array.isArray(h) && h.length > 0 ? h[0] : "";
}

function decodeQueryComponentV3(raw: string): string {
  let s = raw;
  if (s.indexOf("+") >= 0) s = s.replace(/\+/g, " ");
  if (s.indexOf("%") < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // malformed escapes: the raw text was the key at level 3
  }
}

/** A query key at level 3: the first pair whose name is `needle` as written, its value decoded. */
export function queryValueV3(url: string, needle: string): string {
  const q = url.indexOf("?");
  if (q < 0) return "";
  let end = url.indexOf("#", q);
  if (end < 0) end = url.length;
  let from = q + 1;
  while (from < end) {
    const at = url.indexOf(needle, from);
    if (at < 0 || at >= end) return "";
    const before = url.charCodeAt(at - 1);
    if (before === 0x3f /* ? */ || before === 0x26 /* & */) {
      const start = at + needle.length;
      let stop = url.indexOf("&", start);
      if (stop < 0 || stop > end) stop = end;
      return stop === start ? "" : decodeQueryComponentV3(url.slice(start, stop));
    }
    from = at + 1;
  }
  return "";
}

function trustedV3(list: TrustedList, address: string): boolean {
  return address !== "" && list.has(unmapIPv4(address));
}

/** The client address at level 3: as key-extract.ts's clientAddress, entries only unmapped. */
export function clientAddressV3(req: IncomingMessage, trusted: TrustedList | null): string {
  const peer = unmapIPv4(req.socket.remoteAddress ?? "");
  if (trusted === null || !trustedV3(trusted, peer)) return peer;
  const fwd = req.headers.forwarded;
  if (typeof fwd === "string" && fwd !== "") {
    const nodes = forwardedFor(fwd);
    if (nodes !== undefined && nodes.length > 0) {
      let candidate = "";
      for (let i = nodes.length - 1; i >= 0; i--) {
        if (nodes[i] === "") continue;
        candidate = nodes[i];
        if (!trustedV3(trusted, candidate)) return unmapIPv4(candidate);
      }
      return candidate === "" ? peer : unmapIPv4(candidate);
    }
  }
  const xff = req.headers["x-forwarded-for"];
  if (typeof xff !== "string" || xff === "") return peer;
  let end = xff.length;
  let candidate = "";
  while (end > 0) {
    const comma = xff.lastIndexOf(",", end - 1);
    const entry = xff.slice(comma + 1, end).trim();
    end = Math.max(comma, 0);
    if (entry === "") continue;
    candidate = entry;
    if (!trustedV3(trusted, entry)) return unmapIPv4(entry);
  }
  return candidate === "" ? peer : unmapIPv4(candidate);
}
