// The connection cap's back-off (proxy/server/connection-cap.ts): at the cap, a reclaim walk over
// more than 256 candidates that finds none idle is not repeated for 10 ms; connections arriving
// in that window are refused without a walk, so a flood while every slot serves a slow request
// costs one walk per 10 ms, not one per connection. Nothing tested it: removing the back-off left
// every test green. A real HTTP server on 127.0.0.1 with 300 connections each holding a request,
// and the cap's clock frozen (the window is on that clock, so a loaded machine cannot stretch it):
// a connection that went idle inside the window is not reclaimed until the clock passes it.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { capConnections } from "../../proxy/server/connection-cap.js";
import { type CappedClient, connectCapped } from "../support/capped-client.js";
import { waitFor } from "../support/wait.js";

const SLOTS = 300; // more than the 256 candidates past which a fruitless walk backs off

test("at the cap, a fruitless long walk holds off reclaiming for 10 ms on the cap's clock", async (t) => {
  let clock = 1_000;
  const held: http.ServerResponse[] = [];
  const server = http.createServer((_req, res) => {
    held.push(res);
  });
  let refused = 0;
  let reclaimed = 0;
  capConnections(server, {
    max: SLOTS,
    reclaim: "keep-alive",
    tls: false,
    now: () => clock,
    onRefused: () => refused++,
    onReclaimed: () => reclaimed++,
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
  for (let i = 0; i < SLOTS; i++) clients.push(await connectCapped(port, true));
  await waitFor(() => held.length === SLOTS, "every slot holds a request", 30_000);

  // 1. A walk over 300 busy connections finds none idle: refused, and the back-off starts.
  const a = await connectCapped(port, true);
  clients.push(a);
  await waitFor(() => a.closed, "the first extra connection refused", 30_000);
  assert.match(a.received, /^HTTP\/1\.1 503 /);
  assert.match(a.received, /too_many_connections/);
  assert.equal(refused, 1);

  // 2. One slot's request is answered: that connection is idle now, a reclaim candidate.
  const first = held[0];
  await new Promise<void>((r) => first.end("done", r));
  await waitFor(() => clients[0].received.endsWith("done"), "the answer reached its client", 30_000);

  // 3. Inside the window (the clock has not moved): refused without a walk, the idle one kept.
  const b = await connectCapped(port, true);
  clients.push(b);
  await waitFor(
    () => b.closed || held.length > SLOTS,
    "the connection inside the window refused or served",
    30_000,
  );
  assert.equal(held.length, SLOTS, "a connection inside the back-off window was admitted");
  assert.match(b.received, /^HTTP\/1\.1 503 /);
  assert.equal(refused, 2);
  assert.equal(reclaimed, 0, "reclaimed inside the back-off window");
  assert.equal(clients[0].closed, false);

  // 4. Past the window: the idle connection is closed to admit the next one, whose request is served.
  clock += 10;
  const c = await connectCapped(port, true);
  clients.push(c);
  await waitFor(() => clients[0].closed, "the idle connection reclaimed", 30_000);
  await waitFor(() => held.length === SLOTS + 1, "the admitted connection's request arrived", 30_000);
  assert.equal(reclaimed, 1);
  assert.equal(refused, 2);
  assert.equal(c.closed, false);
});
