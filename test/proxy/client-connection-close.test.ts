// A client's `Connection: close` ends its connection once the answer is out (RFC 9112 9.6), on
// both forwarding engines. The undici engine wrote "connection: keep-alive" on every HTTP/1.1
// answer, which makes Node keep the socket: the client waited for the server's keep-alive
// timeout (found as proxy-protocol's raw exchanges taking 6 s each instead of milliseconds).
import assert from "node:assert/strict";
import { test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import { scaled } from "../support/wait.js";
import { startHarness } from "./harness.js";

/** Far longer than any answer here takes: a connection still open at the deadline was kept. */
const KEEP_ALIVE_MS = 120_000;
const CLOSED_WITHIN_MS = 20_000;

function head(reply: string): string {
  return reply.slice(0, reply.indexOf("\r\n\r\n")).toLowerCase();
}

for (const engine of ["undici", "http-proxy"] as const) {
  test(`${engine}: Connection: close is answered "connection: close" and the server closes at once`, async (t) => {
    const h = await startHarness({ members: 1, options: { engine }, listen: { keepAlive: KEEP_ALIVE_MS } });
    t.after(() => h.close());
    const t0 = performance.now();
    const s = await rawSession(h.port, scaled(CLOSED_WITHIN_MS), (sock) =>
      sock.write("GET /close HTTP/1.1\r\nHost: a\r\nx-user-id: u\r\nConnection: close\r\n\r\n"),
    );
    const ms = performance.now() - t0;
    assert.match(s.reply, /^HTTP\/1\.1 200 /, s.reply.slice(0, 200));
    assert.match(head(s.reply), /\r\nconnection: close(\r\n|$)/, head(s.reply));
    assert.ok(
      s.closedByPeer,
      `the server kept the connection ${ms.toFixed(0)} ms (keepAlive ${KEEP_ALIVE_MS} ms)`,
    );
  });

  test(`${engine}: without it, the connection is kept and serves the next request`, async (t) => {
    const h = await startHarness({ members: 1, options: { engine }, listen: { keepAlive: KEEP_ALIVE_MS } });
    t.after(() => h.close());
    const req = (path: string, close: boolean) =>
      `GET ${path} HTTP/1.1\r\nHost: a\r\nx-user-id: u\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
    const s = await rawSession(h.port, scaled(CLOSED_WITHIN_MS), (sock) => {
      sock.write(req("/first", false));
      // The second request goes out once the first answer is in: pipelining is not the point.
      sock.once("data", () => sock.write(req("/second", true)));
    });
    const answers = s.reply.match(/HTTP\/1\.1 200 /g) ?? [];
    assert.equal(answers.length, 2, s.reply.slice(0, 400));
    assert.match(head(s.reply), /\r\nconnection: keep-alive(\r\n|$)/, head(s.reply));
    assert.ok(s.closedByPeer, "closed after the second request, which asked for it");
  });

  test(`${engine}: HTTP/1.0 is answered "connection: close" and closed`, async (t) => {
    const h = await startHarness({ members: 1, options: { engine }, listen: { keepAlive: KEEP_ALIVE_MS } });
    t.after(() => h.close());
    const s = await rawSession(h.port, scaled(CLOSED_WITHIN_MS), (sock) =>
      sock.write("GET /old HTTP/1.0\r\nHost: a\r\nx-user-id: u\r\n\r\n"),
    );
    assert.match(s.reply, /^HTTP\/1\.1 200 /, s.reply.slice(0, 200));
    assert.match(head(s.reply), /\r\nconnection: close(\r\n|$)/, head(s.reply));
    assert.ok(s.closedByPeer, "an HTTP/1.0 connection without keep-alive is closed after the answer");
  });
}
