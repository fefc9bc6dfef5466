// WebSocket handshakes that announce a body, tried from the outside: a real shardgate process
// in front of a raw TCP upstream that records every byte it receives and answers 101.
// Found: Node's parser frames no body on an upgrade, so the body went on as tunnel bytes.
// With `Transfer-Encoding: chunked` the upstream got a request saying chunked, then an empty
// chunked body that shardgate wrote itself ("0\r\n\r\n"), then the client's chunks as
// WebSocket bytes (a `ws` server closed it with 1002, bad RSV bits); with a Content-Length the
// body's bytes became the first WebSocket frame. The proxy and the member disagreed on where
// the request ended. A WebSocket handshake is a GET with no body (RFC 6455 4.1): such a
// request now gets 400 bad_request and its connection closed, and nothing reaches the member,
// as a non-WebSocket upgrade offer with a body already did. A bodyless handshake's pipelined
// bytes still reach the member once, in order.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, test } from "node:test";
import { usersPool } from "../support/minimal-config.js";
import { rawSession } from "../support/raw-socket.js";
import { SWITCHING_PROTOCOLS, WEBSOCKET_OFFER } from "../support/raw-upgrade.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const HANDSHAKE = `${WEBSOCKET_OFFER}x-user-id: k\r\n`;

/** Every byte each upstream connection received, by connection. */
const received: string[] = [];
let upstream: Server;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstream = createServer((s) => {
    const at = received.push("") - 1;
    let answered = false;
    s.on("error", () => {});
    s.on("data", (d) => {
      received[at] += d.toString("latin1");
      if (!answered && received[at].includes("\r\n\r\n")) {
        answered = true;
        s.write(SWITCHING_PROTOCOLS);
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
${usersPool(`127.0.0.1:${(upstream.address() as { port: number }).port}`)}`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await new Promise<void>((r) => upstream.close(() => r()));
});

const WITH_BODY: Record<string, string> = {
  "content-length": `GET /cl HTTP/1.1\r\n${HANDSHAKE}Content-Length: 5\r\n\r\nhello`,
  chunked: `GET /te HTTP/1.1\r\n${HANDSHAKE}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
};

for (const [name, request] of Object.entries(WITH_BODY)) {
  test(`a WebSocket handshake with a body (${name}) gets 400 bad_request and never reaches the member`, {
    timeout: 60_000,
  }, async () => {
    const before = received.length;
    const path = /^GET (\S+)/.exec(request)?.[1];
    const r = await rawSession(port, 10_000, (s) => s.write(request));
    assert.ok(r.closedByPeer, `the connection is closed after the answer: ${JSON.stringify(r.reply)}`);
    assert.match(r.reply, /^HTTP\/1\.1 400 /, JSON.stringify(r.reply.slice(0, 200)));
    assert.match(r.reply, /"error":"bad_request"/);
    assert.doesNotMatch(r.reply, /101 Switching/);
    const line = await sg.proc.waitForLine(
      `the access line of ${path}`,
      (l) => l.type === "access" && l.path === path,
    );
    assert.equal(line.status, 400);
    assert.equal(line.member, "", "no member was chosen");
    assert.equal(
      received.length,
      before,
      `nothing reached the member: ${JSON.stringify(received.slice(before))}`,
    );
  });
}

test("a bodyless WebSocket handshake's pipelined bytes reach the member once, in order", {
  timeout: 60_000,
}, async () => {
  const before = received.length;
  const r = await rawSession(port, 1_000, (s) => {
    s.write(`GET /pipe HTTP/1.1\r\n${HANDSHAKE}Content-Length: 0\r\n\r\nFRAME-1|FRAME-2|`);
    s.once("data", () => s.write("FRAME-3|"));
  });
  assert.match(r.reply, /^HTTP\/1\.1 101 /, JSON.stringify(r.reply.slice(0, 200)));
  const got = await eventually("the member got the three frames", () => {
    const text = received[before];
    return text?.endsWith("FRAME-3|") ? text : undefined;
  });
  assert.equal(got.slice(got.indexOf("\r\n\r\n") + 4), "FRAME-1|FRAME-2|FRAME-3|");
  assert.equal(received.length, before + 1, "one upstream connection");
});
