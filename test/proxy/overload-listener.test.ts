// The public listener under memory overload (proxy/server/overload-gate.ts), with the guard's
// memory samples set by the test: at the "shed" level a request on an open HTTP/1.1 keep-alive
// connection and a stream on an open h2c session are answered 503 overloaded (Retry-After),
// never forwarded, and the h2 session goes on, and a WebSocket upgrade is refused; at the "refuse" level a new connection gets a raw
// 503 overloaded and is closed; back at normal, the same connections are served again.
// Real listener and echo upstreams on loopback.

import assert from "node:assert/strict";
import type { Server } from "node:http";
import { Agent } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { SILENT_LOG } from "../../config/log-sink.js";
import { type MemorySample, OverloadGuard } from "../../proxy/server/overload.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { rawExchange } from "../support/raw-socket.js";
import { planeOverUpstreams, send } from "./harness.js";

const MB = 1024 * 1024;

test("shed: 503 overloaded on HTTP/1.1 and h2c, never forwarded; refuse: new connections get a raw 503; then served again", async (t) => {
  const { plane, config, ups } = await planeOverUpstreams(t, 1);
  let held = 10;
  const sample = (): MemorySample => ({
    rss: held * MB,
    heapResident: 0,
    heapUsed: 0,
    heapLimit: 1000 * MB,
    external: held * MB,
  });
  const guard = new OverloadGuard({ rssLimit: 100 * MB, shedAt: 0.85, refuseAt: 0.95, sample });
  const shed = { request: 0, connection: 0 };
  const server: Server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    listen: {
      timeouts: config.listen.timeouts,
      maxHeaderSize: config.listen.maxHeaderSize,
      maxConnections: 100,
    },
    overload: { guard, onShed: (what) => shed[what]++ },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const session = await h2Session(t, `http://127.0.0.1:${port}`);
  const ask = () => send(port, { path: "/a", headers: { "x-user-id": "alice" }, agent });
  const upstreamSeen = () => ups[0].requests;

  guard.check();
  assert.equal((await ask()).status, 200);
  assert.equal((await h2Request(session, { path: "/a", headers: { "x-user-id": "alice" } })).status, 200);
  const forwarded = upstreamSeen();

  held = 86;
  assert.equal(guard.check(), 1);
  const r1 = await ask();
  assert.equal(r1.status, 503);
  assert.equal(r1.json().error, "overloaded");
  assert.equal(r1.headers["retry-after"], "1");
  assert.equal(r1.headers.connection, "close");
  const r2 = await h2Request(session, {
    method: "POST",
    path: "/a",
    headers: { "x-user-id": "alice" },
    body: "x",
  });
  assert.equal(r2.status, 503);
  assert.equal(r2.json().error, "overloaded");
  assert.equal(r2.headers["retry-after"], "1");
  // A WebSocket upgrade is refused too (it would hold its buffers for its whole life).
  const upgrade = await rawExchange(
    port,
    "GET /ws HTTP/1.1\r\nhost: x\r\nx-user-id: alice\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  );
  assert.match(upgrade, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(upgrade, /"error":"overloaded"/);
  assert.equal(upstreamSeen(), forwarded, "a shed request reached the member");
  assert.deepEqual(shed, { request: 3, connection: 0 });

  held = 96;
  assert.equal(guard.check(), 2);
  const raw = await rawExchange(port, "GET /a HTTP/1.1\r\nhost: x\r\nx-user-id: bob\r\n\r\n");
  assert.match(raw, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(raw, /"error":"overloaded"/);
  assert.match(raw, /\r\nRetry-After: 1\r\n/);
  assert.equal(shed.connection, 1);
  assert.equal(upstreamSeen(), forwarded);

  held = 70;
  assert.equal(guard.check(), 0);
  assert.equal((await ask()).status, 200);
  assert.equal((await h2Request(session, { path: "/a", headers: { "x-user-id": "alice" } })).status, 200);
  assert.equal(upstreamSeen(), forwarded + 2);
});
