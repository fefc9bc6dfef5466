// An upgrade's slot of its client's share (listen.maxUpstreamPerClient) on every way an upgrade
// ends before or after its 101, on a data plane whose share is one upgrade per client (limit 1,
// maxSocketsPerMember 2: the unshared half is 1). After each ending, a fresh upgrade from the
// same client must get its 101: a slot not given back makes it 503 client_share_exceeded, and
// one given back twice would let two tunnels in at once (checked last).

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { eventually, scaled } from "../support/wait.js";
import { type Harness, startHarness } from "./harness.js";

const UPGRADE =
  "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-User-Id: k\r\n\r\n";

/** A raw upgrade; `head` resolves with the answer's status line ("" if the socket closed first). */
function rawUpgrade(port: number): { socket: Socket; head: Promise<string> } {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  const head = new Promise<string>((resolve) => {
    let got = "";
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      const end = got.indexOf("\r\n");
      if (end >= 0) resolve(got.slice(0, end));
    });
    socket.on("close", () => resolve(""));
  });
  socket.write(UPGRADE);
  return { socket, head };
}

/** The client gets a tunnel now (its slot is free): opens one, checks the 101, closes it. */
async function tunnelStillOpens(h: Harness, after: string): Promise<void> {
  const u = rawUpgrade(h.port);
  const status = await u.head;
  u.socket.destroy();
  assert.match(status, /^HTTP\/1\.1 101/, `after ${after}: ${status}`);
  await eventually(`the probe tunnel after ${after} ended`, () =>
    h.plane.inFlight() === 0 ? true : undefined,
  );
}

test("an upgrade's share slot comes back on every ending, once", async (t) => {
  const h = await startHarness({
    members: 1,
    options: { maxUpstreamPerClient: 1, maxSocketsPerMember: 2 },
    config: (members) => ({
      pools: { users: { members, timeouts: { response: "300ms" } } },
      routes: [{ match: { pathPrefix: "/" }, pool: "users", key: ["header:x-user-id"] }],
    }),
  });
  t.after(() => h.close());
  const up = h.upstreams[0];

  // A tunnel, then the client closes it.
  const a = rawUpgrade(h.port);
  assert.match(await a.head, /^HTTP\/1\.1 101/);
  // While it is open the client's one slot is taken.
  const refused = rawUpgrade(h.port);
  assert.match(await refused.head, /^HTTP\/1\.1 503/);
  refused.socket.destroy();
  a.socket.destroy();
  await eventually("the tunnel ended", () => (h.plane.inFlight() === 0 ? true : undefined));
  await tunnelStillOpens(h, "a tunnel the client closed");

  // The member never answers the upgrade and the client leaves first.
  up.mode = { kind: "stallUpgrade" };
  const b = rawUpgrade(h.port);
  await eventually("the member has the upgrade", () => (up.requests > 0 ? true : undefined));
  b.socket.destroy();
  await eventually("the upgrade ended", () => (h.plane.inFlight() === 0 ? true : undefined));
  up.mode = { kind: "echo" };
  await tunnelStillOpens(h, "a client gone before the 101");

  // The member never answers: the response timeout answers 504.
  up.mode = { kind: "stallUpgrade" };
  const c = rawUpgrade(h.port);
  assert.match(await c.head, /^HTTP\/1\.1 504/);
  c.socket.destroy();
  await eventually(
    "the timed-out upgrade ended",
    () => (h.plane.inFlight() === 0 ? true : undefined),
    scaled(5000),
  );
  up.mode = { kind: "echo" };
  await tunnelStillOpens(h, "an upgrade timed out before the 101");

  // The member's side of an open tunnel closes.
  const d = rawUpgrade(h.port);
  assert.match(await d.head, /^HTTP\/1\.1 101/);
  // The member closes every connection it holds (the tunnel is one of them).
  for (const s of (up as unknown as { sockets: Set<Socket> }).sockets) s.destroy();
  await eventually("the tunnel ended", () => (h.plane.inFlight() === 0 ? true : undefined));
  await tunnelStillOpens(h, "a tunnel the member closed");

  // Given back once: one tunnel open again means the next is refused (the count did not go below 0).
  const e = rawUpgrade(h.port);
  assert.match(await e.head, /^HTTP\/1\.1 101/);
  const f = rawUpgrade(h.port);
  assert.match(await f.head, /^HTTP\/1\.1 503/, "a second tunnel while one is open");
  f.socket.destroy();
  e.socket.destroy();
});
