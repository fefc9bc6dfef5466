// The connection cap (proxy/server/connection-cap.ts) gives a slot back when its socket is
// destroyed, not when the socket's 'close' comes (once the handle has closed, later in the event
// loop). Before, a connection accepted in that window, with every other slot busy, was refused
// 503 although only the destroyed one stood in its way. Here the destroy happens in the same
// turn as the accept (a 'connection' listener in front of the gate destroys a busy connection),
// on a real HTTP server on 127.0.0.1: the new connection is served, and the later 'close' of the
// destroyed one gives nothing back twice (the next connection, all slots busy again, is refused).

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { test } from "node:test";
import { capConnections } from "../../proxy/server/connection-cap.js";
import { type CappedClient, connectCapped } from "../support/capped-client.js";
import { waitFor } from "../support/wait.js";

const SLOTS = 3;

test("a slot is free from its socket's destroy(): a connection accepted before its 'close' is served", async (t) => {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((_req, res) => {
    held.push(res);
  });
  let refused = 0;
  const cap = capConnections(server, {
    max: SLOTS,
    reclaim: "keep-alive",
    tls: false,
    onRefused: () => refused++,
  });
  // In front of the gate: when armed, the next accepted connection first sees a busy one destroyed.
  let destroyOnAccept: Socket | null = null;
  server.prependListener("connection", () => {
    const victim = destroyOnAccept;
    destroyOnAccept = null;
    victim?.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const clients: CappedClient[] = [];
  t.after(async () => {
    for (const c of clients) c.socket.destroy();
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;

  // Every slot has a request in flight: busy, never reclaimable.
  for (let i = 0; i < SLOTS; i++) clients.push(await connectCapped(port));
  await waitFor(() => held.length === SLOTS, "every slot holds a request", 30_000);
  assert.equal(cap.open(), SLOTS);

  // 1. A busy connection is destroyed in the turn the next one is accepted: that one is served.
  const victim = held[0].socket as Socket;
  let victimClosed = false;
  victim.once("close", () => {
    victimClosed = true;
  });
  destroyOnAccept = victim;
  const admitted = await connectCapped(port);
  clients.push(admitted);
  await waitFor(
    () => held.length === SLOTS + 1 || admitted.closed,
    "the new connection served or refused",
    30_000,
  );
  assert.equal(refused, 0, `refused although the destroyed connection's slot was free: ${admitted.received}`);
  assert.equal(held.length, SLOTS + 1);
  assert.equal(admitted.closed, false);

  // 2. The destroyed connection's 'close' gives nothing back a second time.
  await waitFor(() => victimClosed, "the destroyed connection's close", 30_000);
  assert.equal(cap.open(), SLOTS);
  const extra = await connectCapped(port);
  clients.push(extra);
  await waitFor(() => extra.closed, "the connection past the cap refused", 30_000);
  assert.match(extra.received, /^HTTP\/1\.1 503 /);
  assert.match(extra.received, /too_many_connections/);
  assert.equal(refused, 1);
  assert.equal(cap.open(), SLOTS);
  assert.equal(held.length, SLOTS + 1);
});
