// A member that refuses a WebSocket upgrade with an answer whose body then stalls, tried from
// the outside: a real shardgate process in front of a raw member that sends "426" with a
// Content-Length of 100, seven bytes of it, and nothing more.
// Found: nothing ever ended it. The response timeout stops at the answer's head, the tunnel's
// idle timeout is set only on a 101, and the listener's idle timeout, which cuts the same
// stalled answer to a plain request, does not reach a socket Node handed over as an upgrade:
// with response 1 s, tunnelIdle 1 s and listen idle 2 s the client was still connected after
// 10 s, counted in flight on its member (bounded load, drains). A client that left in the
// middle of such an answer left its member connection open, since only a client gone before
// the answer dropped the upstream request. Now a relayed refusal quiet for the pool's
// tunnelIdle is closed like a tunnel, and a client that leaves takes the member connection.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const HANDSHAKE =
  "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
const IDLE_MS = 1_000;

/** The member's side of each connection shardgate opened, by the path it asked for. */
const memberSockets = new Map<string, Socket>();
let sg: RunningShardgate;
let port = 0;

const member = createServer((s) => {
  s.on("error", () => undefined);
  s.once("data", (d) => {
    memberSockets.set(/^GET (\S+)/.exec(d.toString("latin1"))?.[1] ?? "", s);
    s.write("HTTP/1.1 426 Upgrade Required\r\ncontent-length: 100\r\n\r\npartial");
  });
});

before(async () => {
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", r));
  const address = `127.0.0.1:${(member.address() as { port: number }).port}`;
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0, timeouts: { idle: 2s } }
log: { level: info, accessLog: true }
pools:
  quick:
    members: [{ id: m1, address: "${address}" }]
    timeouts: { response: 1s, tunnelIdle: ${IDLE_MS}ms }
  patient:
    members: [{ id: m1, address: "${address}" }]
    timeouts: { response: 1s, tunnelIdle: 60s }
routes:
  - match: { pathPrefix: /quick }
    pool: quick
    key: [header:x-user-id]
  - match: { pathPrefix: /patient }
    pool: patient
    key: [header:x-user-id]
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  for (const s of memberSockets.values()) s.destroy();
  await new Promise((r) => member.close(r));
});

test("a refusal whose body stalls is closed after the pool's tunnelIdle, with its member connection", {
  timeout: 60_000,
}, async () => {
  const started = Date.now();
  // Well past the old code's answer (none); the client waits this long at most.
  const r = await rawSession(port, 8_000, (s) =>
    s.write(`GET /quick/a HTTP/1.1\r\nx-user-id: k\r\n${HANDSHAKE}\r\n`),
  );
  const took = Date.now() - started;
  assert.match(r.reply, /^HTTP\/1\.1 426 /, JSON.stringify(r.reply));
  assert.ok(
    r.closedByPeer,
    `shardgate closed the stalled refusal (after ${took} ms): ${JSON.stringify(r.reply)}`,
  );
  assert.ok(took >= IDLE_MS, `not before tunnelIdle: ${took} ms`);
  const line = await sg.proc.waitForLine(
    "the access line",
    (l) => l.type === "access" && l.path === "/quick/a",
  );
  assert.equal(line.status, 426);
  await eventually("the member's connection is closed", () =>
    memberSockets.get("/quick/a")?.destroyed === true ? true : undefined,
  );
});

test("a client that leaves during a refusal's body takes the member connection with it", {
  timeout: 60_000,
}, async () => {
  // tunnelIdle 60 s here: only the client's leaving can end the member connection in time.
  const r = await rawSession(port, 10_000, (s) => {
    s.write(`GET /patient/a HTTP/1.1\r\nx-user-id: k\r\n${HANDSHAKE}\r\n`);
    s.once("data", () => s.destroy());
  });
  assert.match(r.reply, /^HTTP\/1\.1 426 /, JSON.stringify(r.reply));
  await eventually(
    "the member's connection is closed",
    () => (memberSockets.get("/patient/a")?.destroyed === true ? true : undefined),
    5_000,
  );
  const line = await sg.proc.waitForLine(
    "the access line",
    (l) => l.type === "access" && l.path === "/patient/a",
  );
  assert.equal(line.status, 426);
});
