// RFC 7239 `Forwarded`: reading the `for=` nodes a chain of proxies wrote, and writing this
// hop's element. Read only from trusted peers (key-extract.ts decides); written on every
// forwarded request next to X-Forwarded-*.

import { isIP } from "node:net";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The `for=` node of every element, left to right, ports and IPv6 brackets removed;
 * an element without `for=` gives "". Undefined when the header is malformed (an
 * unterminated quote, a pair without "=", a value neither token nor quoted-string), so
 * the caller can fall back rather than believe half of it.
 */
export function forwardedFor(header: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  const n = header.length;
  let current = "";
  let sawPair = false;
  while (i <= n) {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
    if (i >= n || header[i] === ",") {
      if (sawPair) out.push(current);
      current = "";
      sawPair = false;
      i++;
      continue;
    }
    const eq = header.indexOf("=", i);
    if (eq < 0) return undefined;
    const name = header.slice(i, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    i = eq + 1;
    let value: string;
    if (header[i] === '"') {
      let v = "";
      i++;
      while (i < n && header[i] !== '"') {
        if (header[i] === "\\" && i + 1 < n) i++;
        v += header[i];
        i++;
      }
      if (i >= n) return undefined;
      i++;
      value = v;
    } else {
      let j = i;
      while (j < n && header[j] !== ";" && header[j] !== "," && header[j] !== " " && header[j] !== "\t") j++;
      value = header.slice(i, j);
      if (!TOKEN.test(value)) return undefined;
      i = j;
    }
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
    if (i < n && header[i] === ";") i++;
    else if (i < n && header[i] !== ",") return undefined;
    sawPair = true;
    if (name === "for") current = stripNode(value);
  }
  return out;
}

/**
 * Whether a `for=` node (as forwardedFor gives it, port removed) identifies no address: RFC 7239
 * section 6's "unknown" (case-insensitive, as ABNF strings are) or an obfuscated identifier
 * ("_" then letters, digits, ".", "_", "-").
 */
export function identifiesNothing(node: string): boolean {
  return node.charCodeAt(0) === 0x5f /* _ */ || (node.length === 7 && node.toLowerCase() === "unknown");
}

/**
 * `unknown`, `UNKNOWN:4711`, `_hidden`, `_h:_p`: an address text as a client carries it (a port
 * after one colon removed) that names nobody. X-Forwarded-For entries are read by the same rule
 * as Forwarded for= nodes (Squid writes `unknown` there).
 */
export function textIdentifiesNothing(text: string): boolean {
  const colon = text.indexOf(":");
  return identifiesNothing(colon >= 0 && text.indexOf(":", colon + 1) < 0 ? text.slice(0, colon) : text);
}

/** `[2001:db8::1]:4711` -> `2001:db8::1`; `192.0.2.1:80` -> `192.0.2.1`; `unknown`/`_x` stay. */
function stripNode(node: string): string {
  if (node.startsWith("[")) {
    const close = node.indexOf("]");
    return close < 0 ? node : node.slice(1, close);
  }
  const colon = node.indexOf(":");
  return colon >= 0 && node.indexOf(":", colon + 1) < 0 ? node.slice(0, colon) : node;
}

/** This hop's element: `for=<peer>;host=<host>;proto=<proto>` (IPv6 and hosts quoted). */
export function forwardedElement(peer: string, host: string | undefined, proto: string): string {
  const node = isIP(peer) === 6 ? `"[${peer}]"` : peer === "" ? "unknown" : peer;
  const h = host === undefined ? "" : `;host=${quoted(host)}`;
  return `for=${node}${h};proto=${proto}`;
}

function quoted(v: string): string {
  if (TOKEN.test(v)) return v;
  return `"${v.replace(/[\\"]/g, "\\$&")}"`;
}
