// Lets the undici engine take an unsolicited `100 Continue` from an upstream. undici 7's
// HTTP/1.1 parser (lib/dispatcher/client-h1.js, onHeadersComplete) destroys the connection on
// any 100, because undici itself never sends `Expect`; the request then failed as a 502 with
// the upstream's real answer, which followed the 100, thrown away. RFC 9110 section 15.2: a
// client must be able to parse 1xx responses it did not expect, and a proxy forwards or drops
// them, never fails the request. shardgate strips the client's Expect and sends its own 100
// (server side), so every 100 from an upstream is unsolicited: dropped here, as Envoy drops
// upstream 100s it did not ask for. Other 1xx (102, 103 Early Hints, ...) already reach the
// dispatch handler, which drops them too (undici-attempt.ts).
//
// undici's Parser class is not exported: its prototype is reached once, through the first
// connected client's socket, and its onHeadersComplete wrapped. The wrapper handles a 100 as
// undici handles every other 1xx (no body, its fields dropped; onMessageComplete then resets
// the parser for the final head), and leaves every other status, and a 100 undici would refuse
// for another reason (no request running, a destroyed socket), to undici's own code.
// undici stays 7.x (project rule); test/outside/upstream-interim.test.ts pins the behaviour.

import type { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import type { Pool } from "undici";

const require = createRequire(import.meta.url);
const symbols = require("undici/lib/core/symbols.js") as {
  kParser: symbol;
  kSocket: symbol;
  kRunning: symbol;
};

type OnHeadersComplete = (statusCode: number, upgrade: boolean, shouldKeepAlive: boolean) => number;

interface ParserLike {
  onHeadersComplete: OnHeadersComplete;
  socket: { destroyed: boolean };
  client: Record<symbol, unknown>;
  statusCode: number;
  headers: unknown[];
  headersSize: number;
}

let installed = false;

/** Wraps undici's parser once the first connection of `pool` exists (idempotent, any pool). */
export function acceptUnsolicitedContinue(pool: Pool): void {
  if (installed) return;
  (pool as unknown as EventEmitter).on("connect", onConnect);
}

function onConnect(this: EventEmitter, _origin: unknown, targets: unknown[]): void {
  this.off("connect", onConnect);
  if (installed) return;
  const client = targets[targets.length - 1] as Record<symbol, unknown> | undefined;
  const socket = client?.[symbols.kSocket] as Record<symbol, unknown> | null | undefined;
  const parser = socket?.[symbols.kParser] as ParserLike | null | undefined;
  if (parser === null || parser === undefined) return; // an h2 session: no HTTP/1.1 parser
  const proto = Object.getPrototypeOf(parser) as ParserLike;
  const original = proto.onHeadersComplete;
  if (typeof original !== "function" || original.length !== 3) return; // not the undici 7 shape
  installed = true;
  proto.onHeadersComplete = function onHeadersComplete(this: ParserLike, statusCode, upgrade, keepAlive) {
    if (statusCode !== 100 || upgrade || this.socket.destroyed || this.client[symbols.kRunning] === 0)
      return original.call(this, statusCode, upgrade, keepAlive);
    // As undici's own path for another 1xx: onMessageComplete needs the status (>= 100) and
    // resets the parser for the final response; 1 = this message has no body.
    this.statusCode = 100;
    this.headers = [];
    this.headersSize = 0;
    return 1;
  };
}
