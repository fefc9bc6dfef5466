// A raw HTTP/2 client that sends GOAWAY (NO_ERROR) and keeps its side of the connection open,
// against a real shardgate (proxy/server/h2-closed-socket.ts). Node closes such a session
// gracefully: GOAWAY and FIN, then it reads on until the client's FIN and never destroys the
// socket, so the connection (its descriptor, a slot of listen.maxConnections) was held for good:
// still open after 150 s. The client here keeps writing a PING every 100 ms after the server's
// FIN: while the server still holds the socket they are read and dropped; once it is destroyed
// the kernel answers them with RST, which closes the client. Bounded in writes and time; after
// it a well-behaved h2c client is served.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { h2StatusOnce } from "../support/h2-client.js";
import { frame } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { scaled } from "../support/wait.js";

const gate = oneMemberGate();

/** The server must have destroyed its socket within this of its FIN (it waits LINGER_MS, 1 s). */
const DESTROYED_WITHIN_MS = 10_000;
const PING_EVERY_MS = 100;

test("a client's GOAWAY, its side kept open: the server destroys the socket soon after its FIN", async () => {
  const s = connect({ port: gate.port, host: "127.0.0.1", allowHalfOpen: true });
  s.on("error", () => {});
  s.resume();
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  const serverFin = new Promise<void>((r) => s.once("end", () => r()));
  s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  s.write(frame(4, 0, 0));
  s.write(frame(7, 0, 0, Buffer.alloc(8)));
  await serverFin;
  const finAt = performance.now();
  const budget = scaled(DESTROYED_WITHIN_MS);
  const ping = frame(6, 0, 0, Buffer.alloc(8));
  const pinger = setInterval(() => {
    if (!s.destroyed) s.write(ping);
  }, PING_EVERY_MS);
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(true), budget);
  });
  const timedOut = await Promise.race([closed.then(() => false), gaveUp]);
  clearInterval(pinger);
  clearTimeout(timer);
  s.destroy();
  const after = Math.round(performance.now() - finAt);
  assert.equal(timedOut, false, `the server still held the socket ${budget} ms after its FIN`);
  assert.ok(after >= 500, `it read on for a while first (closed ${after} ms after the FIN)`);
  assert.equal(await h2StatusOnce(gate.sg.httpUrl), 200);
});
