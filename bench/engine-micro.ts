// Micro-benchmarks of this round's per-request engine costs, each next to what it replaced,
// measured in the same run: `npm run bench -- engine-micro`. ns per request, median of
// several timed passes after a warm-up.
//
//  - client connection timer: the two socket.setTimeout calls Node's HTTP/1 server makes per
//    keep-alive request (keep-alive after the response, listen.timeouts.idle on the next head),
//    with Node's own setTimeout (a new Timeout and bound callback each) and re-targeted
//    (proxy/forward/socket-timer.ts), on real connected loopback sockets;
//  - Forwarded element with requests interleaved over 1,000 client connections: built per
//    request (what the process-wide "last element" cache did on nearly every request with many
//    clients) against the per-connection facts (proxy/forward/connection-facts.ts);
//  - generated request id: the counter converted with toString(36) per request against
//    request-id.ts (its last two digits from a table); and the id tested as undici tests a
//    header value: a concatenation (a cons string the RegExp flattens) against request-id.ts's
//    slice of a flat block;
//  - the response's listeners: each ServerResponse with the three 'close' listeners it had
//    (the data plane's, the send timeout's, the connection cap's) plus the send timeout's slot
//    in its table and two clock readings, against the one 'close' listener and one clock
//    reading left now (send-timeout.ts and connection-cap.ts keep per-connection state); the
//    response is created and its 'close' emitted in both.

import { IncomingMessage, ServerResponse } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { connectionFacts } from "../proxy/forward/connection-facts.js";
import { OpenRequests } from "../proxy/forward/open-requests.js";
import { newRequestId } from "../proxy/forward/request-id.js";
import { reuseSocketTimer } from "../proxy/forward/socket-timer.js";
import { forwardedElement } from "../proxy/routing/forwarded.js";
import { unmapIPv4 } from "../proxy/routing/key-extract.js";
import { checksum, median, nsPerCall } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

const REPEATS = 9;
/** ns per call of `pass` (which makes `n` calls and returns a checksum). */
function time(n: number, pass: () => number): number {
  return nsPerCall(n, REPEATS, pass);
}

/** `count` connected client sockets to a loopback server (the server side is what Node's HTTP server would hold). */
async function socketPairs(
  count: number,
): Promise<{ server: Server; accepted: Socket[]; clients: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.on("error", () => undefined);
    accepted.push(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const c = connect(port, "127.0.0.1");
    c.on("error", () => undefined);
    clients.push(c);
  }
  while (accepted.length < count) await new Promise((r) => setTimeout(r, 5));
  return { server, accepted, clients };
}

let closes = 0;
function onCloseA(this: ServerResponse): void {
  closes++;
}
function onCloseB(this: ServerResponse): void {
  closes += 2;
}
function onCloseC(this: ServerResponse): void {
  closes += 3;
}

/**
 * ns per response: the per-request listener bookkeeping before and now, on real ServerResponse
 * objects. The two passes alternate (before, now, before, ...) and each gets its median: the
 * response's own construction and the collections it causes dominate both, and a loaded
 * machine moves them between consecutive blocks of passes.
 */
function responseListeners(socket: Socket): { before: number; now: number } {
  const n = 50_000;
  const req = new IncomingMessage(socket);
  const table = new OpenRequests<{ openSlot: number; since: number }>();
  const passBefore = (): number => {
    let x = 0;
    for (let i = 0; i < n; i++) {
      const res = new ServerResponse(req);
      res.on("close", onCloseA);
      const w = { openSlot: -1, since: performance.now() };
      table.add(w);
      res.on("close", onCloseB);
      res.on("close", onCloseC);
      res.emit("close");
      table.delete(w);
      x += performance.now() > 0 ? 1 : 0;
    }
    return x + closes;
  };
  const passNow = (): number => {
    let x = 0;
    for (let i = 0; i < n; i++) {
      const res = new ServerResponse(req);
      res.on("close", onCloseA);
      res.emit("close");
      x += performance.now() > 0 ? 1 : 0;
    }
    return x + closes;
  };
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < 3; r++) {
    passBefore();
    passNow();
  }
  for (let r = 0; r < 2 * REPEATS + 1; r++) {
    a.push(nsPerCall(n, 1, passBefore));
    b.push(nsPerCall(n, 1, passNow));
  }
  return { before: median(a), now: median(b) };
}

export async function run(_argv: string[]): Promise<number> {
  const rows: Array<[string, string, number]> = [];
  const { server, accepted, clients } = await socketPairs(64);
  try {
    const n = 200_000;
    const half = accepted.slice(0, 32);
    const other = accepted.slice(32);
    for (const s of accepted) s.setTimeout(60_000);
    for (const s of other) reuseSocketTimer(s);
    const pairs = (socks: Socket[]) => (): number => {
      for (let i = 0; i < n; i++) {
        const s = socks[i & 31];
        s.setTimeout(6_000);
        s.setTimeout(60_000);
      }
      return n;
    };
    const own = time(n, pairs(half));
    const reused = time(n, pairs(other));
    rows.push(["client connection timer (2 setTimeout per request)", "Node's own", own]);
    rows.push(["", "re-targeted (socket-timer.ts)", reused]);
    for (const s of accepted) s.setTimeout(0);

    // 1,000 connections' worth of peers, requests interleaved across them.
    const peers = Array.from({ length: 1000 }, (_, i) => ({
      remoteAddress: `::ffff:10.${(i >> 8) & 255}.${i & 255}.7`,
    }));
    const host = "shop.example:8080";
    const m = 200_000;
    const perRequest = time(m, () => {
      let x = 0;
      for (let i = 0; i < m; i++) {
        const p = peers[(i * 7919) % 1000];
        x += forwardedElement(unmapIPv4(p.remoteAddress), host, "http").length;
      }
      return x;
    });
    const perConnection = time(m, () => {
      let x = 0;
      for (let i = 0; i < m; i++)
        x += connectionFacts(peers[(i * 7919) % 1000]).forwardedElement(host, "http").length;
      return x;
    });
    rows.push(["Forwarded element, 1,000 connections interleaved", "built per request", perRequest]);
    rows.push(["", "per connection (connection-facts.ts)", perConnection]);

    // Past the first 1,296 ids, as in a running process.
    for (let i = 0; i < 2000; i++) newRequestId();
    const prefix = newRequestId().slice(0, 12);
    let counter = 1_000_000;
    const converted = time(m, () => {
      let x = 0;
      for (let i = 0; i < m; i++) {
        counter++;
        x += `${prefix}-${counter.toString(36)}`.length;
      }
      return x;
    });
    const tabled = time(m, () => {
      let x = 0;
      for (let i = 0; i < m; i++) x += newRequestId().length;
      return x;
    });
    rows.push(["request id", "toString(36) per request", converted]);
    rows.push(["", "last two digits from a table", tabled]);

    const listeners = responseListeners(accepted[0]);
    rows.push([
      "response listeners (res created, 'close' emitted)",
      "three listeners, a slot, 2 clocks",
      listeners.before,
    ]);
    rows.push(["", "one listener, 1 clock (per connection)", listeners.now]);

    // The id made and then tested as undici tests a request header value (its RegExp): the
    // table's concatenation (a cons string, flattened by the test) against request-id.ts's
    // slice of a flat block.
    const valueCheck = /[^\t\x20-\x7e\x80-\xff]/;
    let high = -1;
    let head = "";
    const low: string[] = [];
    const digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (let i = 0; i < 1296; i++) low.push(digits[Math.floor(i / 36)] + digits[i % 36]);
    const concatenated = time(m, () => {
      let x = 0;
      for (let i = 0; i < m; i++) {
        counter++;
        const h = Math.floor(counter / 1296);
        if (h !== high) {
          high = h;
          head = `${prefix}-${h.toString(36)}`;
        }
        const id = head + low[counter % 1296];
        if (!valueCheck.test(id)) x += id.length;
      }
      return x;
    });
    const sliced = time(m, () => {
      let x = 0;
      for (let i = 0; i < m; i++) {
        const id = newRequestId();
        if (!valueCheck.test(id)) x += id.length;
      }
      return x;
    });
    rows.push(["request id, then undici's value check", "concatenated (before)", concatenated]);
    rows.push(["", "slice of a flat block (request-id.ts)", sliced]);
  } finally {
    for (const c of clients) c.destroy();
    server.close();
  }
  console.log(
    "benchmark                                           implementation                          ns/request",
  );
  for (const [b, impl, ns] of rows)
    console.log(`${b.padEnd(52)}${impl.padEnd(40)}${ns.toFixed(0).padStart(10)}`);
  console.log(
    `ratios: timer ${(rows[1][2] / rows[0][2]).toFixed(2)}x, Forwarded ${(rows[3][2] / rows[2][2]).toFixed(2)}x, request id ${(rows[5][2] / rows[4][2]).toFixed(2)}x, response listeners ${(rows[7][2] / rows[6][2]).toFixed(2)}x, id checked ${(rows[9][2] / rows[8][2]).toFixed(2)}x (sink ${checksum() & 1})`,
  );
  return 0;
}

runIfMain(import.meta.url, run);
