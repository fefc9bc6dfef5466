// Node's undocumented HTTP server internals the listener leans on: Socket#destroySoon and
// IncomingMessage#_dump (linger-close.ts), the socket's _httpMessage, _paused and parser
// (pipeline-order.ts), a response's header table kOutHeaders (undici-head-write.ts). None is in @types/node or promised by Node's docs, so each use checks it
// is there (typeof) and otherwise falls back to documented API that is safe if less precise;
// the first fallback of each kind is logged once at debug (it means a Node upgrade renamed
// something, and a behaviour described in README lost some precision), never per request.

import { ServerResponse } from "node:http";
import type { LogSink } from "../../config/log-sink.js";

let log: LogSink | null = null;
const missing = new Set<string>();

/** The logger the once-per-kind notes go to (the listener passes its own). */
export function useInternalsLogger(logger: LogSink): void {
  log = logger;
}

/** Notes (once per `name`) that Node lacks the internal `name` and `fallback` is used instead. */
export function internalMissing(name: string, fallback: string): void {
  if (missing.has(name)) return;
  missing.add(name);
  log?.debug({ internal: name, fallback }, "a Node internal is missing: using the documented fallback");
}

/**
 * Notes (once per `name`, at warn: it means an internal that exists misbehaves on this Node)
 * that calling the internal `name` threw `error`, and that `fallback` stands in for it.
 */
export function internalThrew(name: string, error: unknown, fallback: string): void {
  if (threw.has(name)) return;
  threw.add(name);
  log?.warn(
    { internal: name, err: error instanceof Error ? error.message : String(error), fallback },
    "a Node internal threw: using the documented fallback",
  );
}

const threw = new Set<string>();

/** The internals found missing so far in this process (tests read it). */
export function missingInternals(): readonly string[] {
  return [...missing];
}

/**
 * The answer Node's HTTP/1.1 server is writing on `socket` (`_httpMessage`), null when none,
 * or on a Node without the field. Not noted as missing: Node sets the field only once a first
 * request is emitted, so a timeout inside a connection's first head sees it absent on every Node.
 */
export function httpMessageOf(socket: unknown): unknown {
  if (socket === null || typeof socket !== "object") return null;
  return (socket as { _httpMessage?: unknown })._httpMessage ?? null;
}

/**
 * Node's key for a response's own header table (the `kOutHeaders` symbol of _http_outgoing,
 * whose entries are `lowercase name -> [name, value]`), or null when this Node has none of that
 * shape. Found once, and proved on a probe response: a table put there must come out of
 * writeHead() as the head's lines, in order, repeats included. A head written from that table
 * is not validated again by Node (setHeader validated each entry when it stored it), which is
 * what proxy/forward/undici-head-write.ts uses for header lines undici's parser already checked.
 */
export function outHeadersKey(): symbol | null {
  if (outHeaders === undefined) outHeaders = findOutHeadersKey();
  return outHeaders;
}

let outHeaders: symbol | null | undefined;

function findOutHeadersKey(): symbol | null {
  try {
    const probe = new ServerResponse({ method: "GET", httpVersionMajor: 1, httpVersionMinor: 1 } as never);
    const key = Object.getOwnPropertySymbols(probe).find((s) => s.description === "kOutHeaders");
    const slots = probe as unknown as Record<symbol, unknown>;
    if (key !== undefined && slots[key] === null) {
      slots[key] = { "x-a": ["X-A", "1"], "x-b": ["x-b", ["2", "3"]] };
      probe.writeHead(200);
      const head = (probe as unknown as { _header?: unknown })._header;
      if (typeof head === "string" && head.startsWith("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-b: 2\r\nx-b: 3\r\n"))
        return key;
    }
  } catch {
    // a Node whose response has another shape: the fallback below
  }
  internalMissing("ServerResponse[kOutHeaders]", "writeHead with the header list (Node validates each line)");
  return null;
}
