// SIGTERM with an open WebSocket, tried from the outside: a real shardgate process between a
// `ws` client and a `ws` server, stopped with a short --drain-timeout.
// Found: the tunnel was not cut at the drain deadline. Upgraded sockets are outside the HTTP
// server's connection tracking and outside the member agents (Node hands an upgraded socket
// over), so neither closeAllConnections nor the data plane's close touched them: the shutdown
// waited its 1 s linger, logged "shutdown complete", and the open tunnel then held the event
// loop until the 2 s exit grace forced the exit. Both ends saw the close only when the process
// died, 3 s after the deadline, and the WebSocket's access line was never written. Now the
// data plane closes every upgraded connection when it closes (both sides get a FIN at the
// deadline), the WebSocket is logged with its duration, and the process exits at once.

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { usersPool } from "../support/minimal-config.js";
import { assertSigtermCutsAtDeadline } from "../support/raw-upgrade.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";

const DRAIN_MS = 1_000;

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
wss.on("connection", (ws) => ws.on("message", (m) => ws.send(m)));

after(async () => {
  await stopAll();
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
});

test("SIGTERM with an open WebSocket: both sides closed at the drain deadline, the tunnel logged, exit 0 at once", {
  timeout: 120_000,
}, async () => {
  if (wss.address() === null) await new Promise((r) => wss.once("listening", r));
  const upstreamClosed = new Promise<void>((resolve) =>
    wss.once("connection", (ws) => ws.once("close", () => resolve())),
  );
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
${usersPool(`127.0.0.1:${(wss.address() as AddressInfo).port}`)}`,
    { args: ["--drain-timeout", `${DRAIN_MS}ms`] },
  );
  const ws = new WebSocket(`${sg.httpUrl.replace("http:", "ws:")}/live`, { headers: { "x-user-id": "k" } });
  ws.on("error", () => undefined);
  const clientClosed = new Promise<number>((resolve) => ws.once("close", () => resolve(Date.now())));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const echoed = new Promise<string>((resolve) => ws.once("message", (d) => resolve(String(d))));
  ws.send("hello");
  assert.equal(await echoed, "hello");

  await assertSigtermCutsAtDeadline(sg, DRAIN_MS, clientClosed);
  await upstreamClosed;
  const line = sg.proc.lines.find((l) => l.type === "access" && l.path === "/live");
  assert.ok(line !== undefined, `the WebSocket's access line is written\n${sg.proc.output()}`);
  assert.equal(line.status, 101);
  assert.equal(line.upgrade, true);
  assert.equal(line.error, "shutting_down", "the cut is the shutdown's, not the member's");
  assert.ok(Number(line.durationMs) >= DRAIN_MS, `its duration covers the drain: ${line.durationMs}`);
});
