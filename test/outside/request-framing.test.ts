// Request framing an attacker sends on the data port, tried from the outside (raw sockets on
// loopback, a real shardgate process, an echo upstream that counts what reaches it). Node's
// strict parser refuses most smuggling shapes itself (CL+TE, two Content-Lengths, obs-fold,
// bare LF, NUL/CTL in values, a space before the colon: 400 and close). Found past it:
// - `Transfer-Encoding: gzip, chunked` was decoded as chunked and forwarded with a
//   Content-Length for a body still gzip-coded, the coding dropped: the upstream read a
//   different body than the client sent. Now 501 unsupported_transfer_coding and close.
// - a head of more than 2,000 header fields (Node's count limit) lost every field past it
//   without a word: a Content-Length there framed the body for the parser but the upstream got
//   `content-length: 0`; a second Host there escaped the invalid_host check. Now 431
//   headers_too_large and close; a head of 1,999 fields is still forwarded whole.
// - a client's `Connection: close` was answered `connection: keep-alive` and the connection
//   held open until the keep-alive timeout (RFC 9112 section 9.6: the server closes after the
//   response). Now Node's own verdict is written: `connection: close`, then the close.
// - requests pipelined before a closing one (`Connection: close`, or HTTP/1.0 without
//   keep-alive) followed by more bytes: Node's parser reports the bytes after it as an error,
//   and answering that error cut the connection: the requests in flight became 499 and the
//   client read one 400. Now they are answered and the bytes after the closing one dropped.
// Each refused head carries a good request pipelined behind it, which must never be served
// (Node goes on parsing the bytes behind a refused head; the first run here served it).

import assert from "node:assert/strict";
import { test } from "node:test";
import { oneMemberGate } from "../support/one-member-gate.js";
import { rawSession } from "../support/raw-socket.js";
import type { EchoBody } from "../support/upstreams.js";

// Keep-alive longer than the test's deadline: only shardgate's close after a refusal ends it in time.
const gate = oneMemberGate((yaml) =>
  yaml.replace("listen:\n", "listen:\n  timeouts: { keepAlive: 120s, idle: 120s }\n  maxHeaderSize: 64kb\n"),
);

const HEAD = "Host: a.example\r\nx-user-id: k\r\n";
const NEXT = `GET /smuggled HTTP/1.1\r\n${HEAD}\r\n`;
const fields = (n: number): string => "a:1\r\n".repeat(n);

const REFUSED: Array<[string, string, number, string]> = [
  [
    "Transfer-Encoding: gzip, chunked",
    `POST / HTTP/1.1\r\n${HEAD}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    501,
    "unsupported_transfer_coding",
  ],
  [
    "Transfer-Encoding: deflate,chunked",
    `POST / HTTP/1.1\r\n${HEAD}Transfer-Encoding: deflate,chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    501,
    "unsupported_transfer_coding",
  ],
  [
    "2,001 fields, Content-Length last",
    `POST / HTTP/1.1\r\n${HEAD}${fields(1998)}Content-Length: 5\r\n\r\nhello`,
    431,
    "headers_too_large",
  ],
  [
    "2,001 fields, a second Host last",
    `GET / HTTP/1.1\r\n${HEAD}${fields(1998)}Host: evil.example\r\n\r\n`,
    431,
    "headers_too_large",
  ],
  [
    "2,001 fields on a WebSocket upgrade",
    `GET / HTTP/1.1\r\n${HEAD}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${fields(1995)}\r\n`,
    431,
    "headers_too_large",
  ],
  // What Node's parser already refused stays refused (a regression guard for the strict mode).
  [
    "CL + TE",
    `POST / HTTP/1.1\r\n${HEAD}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400,
    "bad_request",
  ],
  [
    "chunked, identity",
    `POST / HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    400,
    "bad_request",
  ],
  [
    "two Content-Lengths",
    `POST / HTTP/1.1\r\n${HEAD}Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde`,
    400,
    "bad_request",
  ],
  [
    "obs-fold Transfer-Encoding",
    `POST / HTTP/1.1\r\n${HEAD}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
    400,
    "bad_request",
  ],
  [
    "space before colon",
    `POST / HTTP/1.1\r\n${HEAD}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    400,
    "bad_request",
  ],
  ["bare LF", `GET / HTTP/1.1\n${HEAD.replace(/\r\n/g, "\n")}\n`, 400, "bad_request"],
  ["NUL in a value", `GET / HTTP/1.1\r\n${HEAD}x-a: b\x00c\r\n\r\n`, 400, "bad_request"],
  // Absolute-form is accepted (test/outside/absolute-form-target.test.ts); userinfo in it is not.
  ["absolute-form with userinfo", `GET http://u@evil.example/x HTTP/1.1\r\n${HEAD}\r\n`, 400, "bad_request"],
  ["authority-form outside CONNECT", `GET evil.example:80 HTTP/1.1\r\n${HEAD}\r\n`, 400, "bad_request"],
  // `OPTIONS *` is answered 200 (test/outside/server-options.test.ts); other methods are not.
  ["GET *", `GET * HTTP/1.1\r\n${HEAD}\r\n`, 400, "bad_request"],
];

test("framing an upstream could read differently is refused, closed, and nothing behind it is served", {
  timeout: 90_000,
}, async () => {
  for (const [name, bad, status, code] of REFUSED) {
    const before = gate.upstream.requests;
    const r = await rawSession(gate.port, 15_000, (s) => s.write(bad + NEXT, "latin1"));
    assert.match(
      r.reply,
      new RegExp(`^HTTP/1\\.1 ${status} `),
      `${name}: ${JSON.stringify(r.reply.slice(0, 120))}`,
    );
    assert.match(r.reply, new RegExp(`"error":"${code}"`), name);
    assert.equal(
      r.reply.match(/HTTP\/1\.1 \d{3} /g)?.length,
      1,
      `${name}: one answer only\n${r.reply.slice(0, 400)}`,
    );
    assert.ok(r.closedByPeer, `${name}: shardgate closed the connection`);
    assert.equal(gate.upstream.requests, before, `${name}: nothing reached the upstream`);
  }
});

test("plain chunked and a head of 1,999 fields are forwarded whole, body included", {
  timeout: 60_000,
}, async () => {
  const chunked = await rawSession(gate.port, 15_000, (s) =>
    s.write(
      `POST /c HTTP/1.1\r\n${HEAD}Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    ),
  );
  assert.match(chunked.reply, /^HTTP\/1\.1 200 /, chunked.reply.slice(0, 200));
  assert.equal(echoOf(chunked.reply).body, "abc");
  assert.match(
    chunked.reply,
    /\r\nconnection: close\r\n/i,
    "the client's Connection: close is answered in kind",
  );
  assert.ok(
    chunked.closedByPeer,
    "the connection the client asked to close was closed (keep-alive here is 120 s)",
  );
  const many = await rawSession(gate.port, 15_000, (s) =>
    s.write(`POST /m HTTP/1.1\r\n${HEAD}${fields(1995)}Connection: close\r\nContent-Length: 5\r\n\r\nhello`),
  );
  assert.match(many.reply, /^HTTP\/1\.1 200 /, many.reply.slice(0, 200));
  const echo = echoOf(many.reply);
  assert.equal(echo.body, "hello", "the body framed by the last field reached the upstream");
  assert.equal(echo.path, "/m");
  assert.ok(many.closedByPeer, "closed after the answer, as the client asked");
});

test("requests pipelined before a Connection: close are all answered; bytes after it never served", {
  timeout: 60_000,
}, async () => {
  // They were not: Node's parser reports the bytes after the closing request as an error, and
  // answering it cut the connection (499 for the requests in flight) and sent one 400.
  const before = gate.upstream.requests;
  for (const [name, closing] of [
    ["Connection: close", `GET /p2 HTTP/1.1\r\n${HEAD}Connection: close\r\n\r\n`],
    ["HTTP/1.0 without keep-alive", `GET /p2 HTTP/1.0\r\n${HEAD}\r\n`],
  ] as const) {
    const r = await rawSession(gate.port, 15_000, (s) =>
      s.write(`GET /p1 HTTP/1.1\r\n${HEAD}\r\n${closing}GET /p3 HTTP/1.1\r\n${HEAD}\r\n`),
    );
    const statuses = r.reply.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.deepEqual(
      statuses,
      ["HTTP/1.1 200", "HTTP/1.1 200"],
      `${name}: ${JSON.stringify(r.reply.slice(0, 600))}`,
    );
    const p1 = r.reply.indexOf('"path":"/p1"');
    assert.ok(p1 > 0 && r.reply.indexOf('"path":"/p2"') > p1, `${name}: /p1 then /p2 answered`);
    assert.ok(!r.reply.includes('"path":"/p3"'), `${name}: nothing after the closing request is served`);
    assert.ok(
      r.closedByPeer,
      `${name}: closed after the closing request's answer (keep-alive here is 120 s)`,
    );
  }
  assert.equal(gate.upstream.requests, before + 4, "only /p1 and /p2 reached the upstream, twice");
});

function echoOf(reply: string): EchoBody {
  const at = reply.indexOf("\r\n\r\n");
  const head = reply.slice(0, at);
  let body = reply.slice(at + 4);
  if (/\r\ntransfer-encoding: chunked/i.test(head)) body = dechunk(body);
  return JSON.parse(body) as EchoBody;
}

function dechunk(s: string): string {
  let out = "";
  let i = 0;
  for (;;) {
    const eol = s.indexOf("\r\n", i);
    const size = Number.parseInt(s.slice(i, eol), 16);
    if (!(size > 0)) return out;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}
