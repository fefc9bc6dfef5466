// Requests to the admin port that offer a protocol switch. The admin port takes no upgrade, but
// its connection cap listened for 'upgrade' (to pin upgraded connections on the proxy port), and
// any such listener makes Node hand over a request carrying `Upgrade` + `Connection: upgrade`
// instead of answering it: `GET /healthz` with `Upgrade: websocket` got no answer and its
// connection was held past every admin timeout (still open after 70 s, no bytes sent), pinned
// so the cap never reclaimed it. admin.maxConnections of them (64 by default, sent by anyone who
// can reach the port, in one burst) locked the admin port for good: every probe of /healthz or
// /readyz and every /metrics scrape answered 503 too_many_connections, and an orchestrator
// restarts an instance whose liveness probe fails. Such a request is now answered as the request
// it is. And CONNECT, which Node closed without a word, is a coded 405.
// A real shardgate process; raw sockets on 127.0.0.1.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { USERS_DEAD_MEMBER_POOL } from "../support/minimal-config.js";
import { rawExchange } from "../support/raw-socket.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

/** admin.maxConnections for this test: the lockout needs this many offers, not 64. */
const CAP = 8;

let sg: RunningShardgate;
let adminPort: number;

before(async () => {
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { maxConnections: ${CAP} }
${USERS_DEAD_MEMBER_POOL}`);
  adminPort = Number(new URL(sg.adminUrl).port);
});

after(async () => {
  await stopAll();
});

const offer = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

/**
 * Sends `payload` on a new connection that the client keeps open, and resolves with the first
 * whole answer (head and Content-Length body), or with what came (maybe "") when `ms` passed or
 * the peer closed first. The socket is left open: the caller destroys it.
 */
function firstAnswer(payload: string, ms: number): { socket: Socket; answer: Promise<string> } {
  const socket = connect(adminPort, "127.0.0.1");
  socket.on("error", () => {});
  const answer = new Promise<string>((resolve) => {
    let text = "";
    const timer = setTimeout(() => resolve(text), scaled(ms));
    const done = () => {
      clearTimeout(timer);
      resolve(text);
    };
    socket.on("data", (d) => {
      text += d.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
      if (end >= 0 && length !== null && text.length - end - 4 >= Number(length[1])) done();
    });
    socket.on("close", done);
  });
  socket.write(payload);
  return { socket, answer };
}

test("an upgrade offer on the admin port is answered as the request it is", async () => {
  for (const [path, status] of [
    ["/healthz", 200],
    ["/admin/state", 200],
    ["/nowhere", 404],
  ] as const) {
    const { socket, answer } = firstAnswer(offer(path), 5_000);
    const text = await answer;
    socket.destroy();
    assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), `${path}: ${JSON.stringify(text)}`);
  }
});

test(`${CAP} upgrade offers left open do not lock /healthz and /metrics out`, async () => {
  const held = Array.from({ length: CAP }, () => firstAnswer(offer("/healthz"), 5_000));
  try {
    // Each offer is answered although its client keeps the connection open.
    const answers = await Promise.all(held.map((h) => h.answer));
    for (const a of answers) assert.match(a, /^HTTP\/1\.1 200 /, JSON.stringify(a));
    for (const path of ["/healthz", "/metrics"]) {
      const reply = await rawExchange(
        adminPort,
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        5_000,
      );
      assert.match(reply, /^HTTP\/1\.1 200 /, `${path} with ${CAP} offers open: ${reply.slice(0, 300)}`);
    }
  } finally {
    for (const h of held) h.socket.destroy();
  }
});

test("CONNECT on the admin port: 405 method_not_allowed, then the connection closes", async () => {
  const reply = await rawExchange(
    adminPort,
    "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n",
    5_000,
  );
  assert.match(reply, /^HTTP\/1\.1 405 /, JSON.stringify(reply));
  assert.match(reply, /"error":"method_not_allowed"/);
  assert.match(reply, /\r\nconnection: close\r\n/i);
});
