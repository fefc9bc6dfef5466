// WebSocket tunnels end (issue 10, item 3): when either side ends, the other is ended; a
// tunnel quiet both ways for the pool's timeouts.tunnelIdle is closed; a client that leaves
// before the upstream answered drops the upstream request. Sockets and the in-flight count go
// back to baseline. Also: hop-by-hop headers of an upstream's answer to an upgrade (101 or
// not) and of an ordinary response stay on their hop.

import assert from "node:assert/strict";
import type { Server as HttpServer } from "node:http";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { WebSocket } from "ws";
import { eventuallyTrue } from "../support/wait.js";
import { defaultConfig, send, startHarness } from "./harness.js";

const UPGRADE = (key: string) =>
  "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-User-Id: ${key}\r\n\r\n`;

/**
 * A raw upstream that answers every request with `answer` and then ignores the peer's FIN
 * (keeps its half open). It keeps writing a byte every 50 ms after the FIN, so it notices
 * (by a reset) when the proxy really closed its socket, and only then closes.
 */
async function stubbornUpstream(
  answer: string,
): Promise<{ server: Server; port: number; open: Set<Socket> }> {
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    open.add(s);
    s.on("close", () => open.delete(s));
    s.on("error", () => {});
    s.once("data", () => s.write(answer));
    s.on("end", () => {
      const timer = setInterval(() => s.write("x"), 50);
      s.on("close", () => clearInterval(timer));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, open };
}

async function closeStub(stub: { server: Server; open: Set<Socket> }): Promise<void> {
  for (const s of stub.open) s.destroy();
  await new Promise<void>((r) => stub.server.close(() => r()));
}

/** Opens a raw upgrade through the proxy, waits for the 101, then half-closes (FIN) and returns the socket. */
function upgradeThenLeave(port: number, key: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    s.on("error", reject);
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (got.includes("\r\n\r\n")) {
        if (!got.startsWith("HTTP/1.1 101")) reject(new Error(`no 101: ${got.slice(0, 80)}`));
        s.removeAllListeners("data");
        s.resume();
        s.end();
        resolve(s);
      }
    });
    s.write(UPGRADE(key));
  });
}

const SWITCHING =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\r\n";

test("clients that leave an upgraded tunnel end the upstream side too: sockets and in-flight back to baseline", async (t) => {
  const stub = await stubbornUpstream(SWITCHING);
  const h = await startHarness({
    members: 1,
    config: () => ({
      ...defaultConfig([]),
      pools: { users: { members: [{ id: "ws1", address: `127.0.0.1:${stub.port}` }] } },
    }),
  });
  t.after(async () => {
    await h.close();
    await closeStub(stub);
  });
  const clients: Socket[] = [];
  for (let i = 0; i < 40; i++) clients.push(await upgradeThenLeave(h.port, `k${i}`));
  const settled = await eventuallyTrue(() => h.plane.inFlight() === 0 && stub.open.size === 0, 10_000);
  assert.ok(settled, `in flight ${h.plane.inFlight()}, upstream sockets still open ${stub.open.size}`);
  const proxyConns = await new Promise<number>((r) =>
    (h.server as HttpServer).getConnections((_e, n) => r(n)),
  );
  assert.equal(proxyConns, 0, "the proxy closed the client sockets too");
  for (const c of clients) c.destroy();
});

test("a tunnel quiet both ways for timeouts.tunnelIdle is closed (both sides)", async (t) => {
  const h = await startHarness({
    members: 1,
    config: (members) => ({
      ...defaultConfig(members),
      pools: { users: { members, timeouts: { tunnelIdle: "300ms" } } },
    }),
  });
  t.after(() => h.close());
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/`, { headers: { "x-user-id": "quiet" } });
  const opened = await new Promise<boolean>((r) => {
    ws.on("open", () => r(true));
    ws.on("error", () => r(false));
  });
  assert.ok(opened);
  // Traffic keeps it open past the idle time...
  for (let i = 0; i < 4; i++) {
    const echoed = new Promise((r) => ws.once("message", r));
    ws.send(`ping-${i}`);
    await echoed;
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.equal(ws.readyState, WebSocket.OPEN, "an active tunnel stays open");
  // ...silence closes it.
  const closed = await new Promise<boolean>((r) => {
    const timer = setTimeout(() => r(false), 5000);
    ws.on("close", () => {
      clearTimeout(timer);
      r(true);
    });
  });
  assert.ok(closed, "the quiet tunnel was closed");
  assert.ok(
    await eventuallyTrue(() => h.plane.inFlight() === 0 && h.upstreams[0].openConnections() === 0, 5000),
  );
});

test("a client gone before the upstream answered the upgrade drops the upstream request", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  h.upstreams[0].mode = { kind: "stallUpgrade" };
  const s = connect(h.port, "127.0.0.1");
  s.on("error", () => {});
  s.write(UPGRADE("early"));
  assert.ok(await eventuallyTrue(() => h.upstreams[0].openConnections() === 1, 3000));
  s.destroy();
  assert.ok(
    await eventuallyTrue(() => h.plane.inFlight() === 0 && h.upstreams[0].openConnections() === 0, 3000),
    `in flight ${h.plane.inFlight()}, upstream ${h.upstreams[0].openConnections()}`,
  );
});

test("hop-by-hop headers of a 101, of a refused upgrade and of a response never reach the client", async (t) => {
  const refusing = await stubbornUpstream(
    "HTTP/1.1 400 Bad Request\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nContent-Length: 2\r\n\r\nno",
  );
  const switching = await stubbornUpstream(SWITCHING);
  const plain = await stubbornUpstream(
    "HTTP/1.1 200 OK\r\nTE: trailers\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
  );
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: {
        refusing: { members: [{ id: "r", address: `127.0.0.1:${refusing.port}` }] },
        switching: { members: [{ id: "s", address: `127.0.0.1:${switching.port}` }] },
        plain: { members: [{ id: "p", address: `127.0.0.1:${plain.port}` }] },
      },
      routes: [
        { match: { host: "refusing", pathPrefix: "/" }, pool: "refusing", key: ["header:x-user-id"] },
        { match: { host: "switching", pathPrefix: "/" }, pool: "switching", key: ["header:x-user-id"] },
        { match: { host: "plain", pathPrefix: "/" }, pool: "plain", key: ["header:x-user-id"] },
      ],
    }),
  });
  t.after(async () => {
    await h.close();
    for (const s of [refusing, switching, plain]) await closeStub(s);
  });
  const raw = (host: string): Promise<string> =>
    new Promise((resolve) => {
      const s = connect(h.port, "127.0.0.1");
      let got = "";
      const timer = setTimeout(() => s.destroy(), 3000);
      s.on("data", (d) => {
        got += d.toString("latin1");
        if (got.includes("\r\n\r\n")) {
          clearTimeout(timer);
          s.destroy();
        }
      });
      s.on("close", () => resolve(got.split("\r\n\r\n")[0].toLowerCase()));
      s.on("error", () => {});
      s.write(UPGRADE("k").replace("Host: a", `Host: ${host}`));
    });
  const refused = await raw("refusing");
  assert.match(refused, /^http\/1\.1 400/);
  assert.doesNotMatch(refused, /keep-alive:|\nte:|connection: keep-alive|connection: upgrade/);
  assert.match(refused, /\nconnection: close/);
  const upgraded = await raw("switching");
  assert.match(upgraded, /^http\/1\.1 101/);
  assert.match(upgraded, /\nupgrade: websocket/);
  assert.doesNotMatch(upgraded, /keep-alive:|\nte:/);
  const r = await send(h.port, { headers: { host: "plain", "x-user-id": "k" } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.te, undefined);
  assert.equal(r.headers["keep-alive"], undefined);
});
