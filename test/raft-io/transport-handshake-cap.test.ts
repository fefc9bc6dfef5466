// Tried from the outside: nothing bounded the unauthenticated connections on the Raft port, so
// anyone who could reach it could hold thousands of sockets in their handshake (each with a
// timer and a reader) for handshakeTimeoutMs at a time. Past maxPendingHandshakes a new
// connection is now closed at once and counted (too_many_handshakes); an authenticated peer
// no longer counts, and a closed handshake frees its place. Raw sockets on loopback.

import assert from "node:assert/strict";
import * as net from "node:net";
import { after, test } from "node:test";
import { parseAddress, TcpTransport } from "../../config/raft/transport/index.js";
import { eventually } from "../support/wait.js";

const socks: net.Socket[] = [];
const transports: TcpTransport[] = [];
after(async () => {
  for (const s of socks) s.destroy();
  for (const t of transports) await t.stop();
});

/** Opens a raw connection that sends nothing; `closed` resolves when the transport closes it. */
async function idle(addr: string): Promise<{ sock: net.Socket; closed: Promise<void> }> {
  const { host, port } = parseAddress(addr);
  const sock = net.connect({ host, port });
  socks.push(sock);
  sock.on("error", () => {});
  const closed = new Promise<void>((r) => sock.on("close", () => r()));
  await new Promise<void>((r) => sock.once("connect", () => r()));
  return { sock, closed };
}

test("past maxPendingHandshakes a new Raft connection is closed at once and counted", {
  timeout: 60_000,
}, async () => {
  const cap = 4;
  // A handshake timeout far beyond the test: only the cap can close a connection early.
  const t = new TcpTransport({
    id: "a",
    secret: "handshake-cap-secret",
    maxPendingHandshakes: cap,
    handshakeTimeoutMs: 120_000,
    onMessage: () => {},
  });
  transports.push(t);
  const addr = await t.start();
  const held = [];
  for (let i = 0; i < cap; i++) held.push(await idle(addr));
  await eventually("the held handshakes accepted", () =>
    t.stats().inboundAccepted === cap ? true : undefined,
  );

  const over = await idle(addr);
  await eventually("the connection over the cap closed", () =>
    over.sock.destroyed || over.sock.readableEnded ? true : undefined,
  ).catch(async () => {
    throw new Error(`connection over the cap still open; stats ${JSON.stringify(t.stats().rejected)}`);
  });
  await over.closed;
  assert.equal(t.stats().rejected.too_many_handshakes, 1);
  for (const h of held) assert.equal(h.sock.destroyed, false, "the held handshakes are untouched");

  // A closed handshake frees its place (once the transport saw the close): a later connection
  // is accepted again.
  held[0].sock.destroy();
  await held[0].closed;
  await eventually(
    "a connection accepted after a place freed",
    async () => {
      const before = t.stats().inboundAccepted;
      const next = await idle(addr);
      const settled = await Promise.race([
        next.closed.then(() => "closed"),
        eventually("accepted", () => (t.stats().inboundAccepted > before ? "accepted" : undefined), 2_000),
      ]).catch(() => "neither");
      return settled === "accepted" ? true : undefined;
    },
    20_000,
  );
});
