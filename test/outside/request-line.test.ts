// Tried from the outside: the HTTP/1.1 request line's limits, against a real shardgate process
// over raw sockets on loopback (README "Error codes", "Security limits").
// - Length: README says a request line over 8 KB gets 414 (nginx's large_client_header_buffers
//   8k), but a 9 KB line was forwarded: the 414 came only once the line overflowed the whole
//   header budget (listen.maxHeaderSize, 16 KB). Now 8,192 bytes (CRLF not counted) are
//   forwarded and 8,193 get 414 uri_too_long, counted, the connection closed, the upstream
//   never asked.
// - Version: Node's parser refuses HTTP/1.2, 2.1, 3.0 before a request exists; that was a bare
//   400 bad_request. README says 505 for a version other than 1.0/1.1 (as HTTP/2.0 already
//   got, and as nginx answers 2.x and 3.x lines): now 505 http_version_not_supported, closed.

import assert from "node:assert/strict";
import { test } from "node:test";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { rawSession, statusAndError } from "../support/raw-socket.js";

const fx = echoBehindProxy();

/** Bounds a wait that ends as soon as shardgate closes; only a failure waits this long. */
const DEADLINE_MS = 20_000;
const HEAD = "Host: a.example\r\nx-user-id: k\r\nConnection: close\r\n";

/** `GET /aaa… HTTP/1.1` exactly `length` bytes long, CRLF not counted. */
function requestLine(length: number): string {
  const line = `GET /${"a".repeat(length - "GET / HTTP/1.1".length)} HTTP/1.1`;
  assert.equal(line.length, length);
  return line;
}

test("a request line of 8,192 bytes is forwarded; 8,193 get 414 uri_too_long, counted, closed", async () => {
  const ok = await rawSession(fx.port, DEADLINE_MS, (s) => s.write(`${requestLine(8192)}\r\n${HEAD}\r\n`));
  assert.equal(statusAndError(ok.reply).status, 200, ok.reply.slice(0, 300));
  assert.ok(ok.reply.includes(`"path":"/${"a".repeat(8178)}"`), "the whole target reached the upstream");

  const counted = await fx.clientErrors("uri_too_long");
  const asked = fx.upstream.requests;
  // Keep-alive asked for: the close is shardgate's decision, not the client's.
  const head = "Host: a.example\r\nx-user-id: k\r\n";
  const long = await rawSession(fx.port, DEADLINE_MS, (s) => s.write(`${requestLine(8193)}\r\n${head}\r\n`));
  assert.deepEqual(
    statusAndError(long.reply),
    { status: 414, error: "uri_too_long" },
    long.reply.slice(0, 300),
  );
  assert.match(long.reply, /\r\nconnection: close\r\n/i);
  assert.ok(long.closedByPeer, "the connection is closed after the 414");
  assert.equal(fx.upstream.requests, asked, "the upstream never saw the refused request");
  assert.equal(await fx.clientErrors("uri_too_long"), counted + 1);

  // A 9 KB line, the sweep's case, the same.
  const nine = await rawSession(fx.port, DEADLINE_MS, (s) =>
    s.write(`${requestLine(9 * 1024)}\r\n${HEAD}\r\n`),
  );
  assert.deepEqual(
    statusAndError(nine.reply),
    { status: 414, error: "uri_too_long" },
    nine.reply.slice(0, 300),
  );
  assert.equal(fx.upstream.requests, asked);
});

test("HTTP/1.2, 2.1, 3.0 and 9.9 request lines: 505 http_version_not_supported, counted, closed", async () => {
  const asked = fx.upstream.requests;
  // HTTP/2.0 passes Node's parser and is refused by the data plane (request-checks.ts), not
  // counted as a connection-level rejection; the others are refused by the parser.
  for (const version of ["HTTP/1.2", "HTTP/2.1", "HTTP/3.0", "HTTP/9.9", "HTTP/2.0"]) {
    const parserRefused = version !== "HTTP/2.0";
    const counted = await fx.clientErrors("http_version_not_supported");
    const r = await rawSession(fx.port, DEADLINE_MS, (s) =>
      s.write(`GET /v ${version}\r\nHost: a.example\r\nx-user-id: k\r\n\r\n`),
    );
    assert.deepEqual(
      statusAndError(r.reply),
      { status: 505, error: "http_version_not_supported" },
      `${version}: ${JSON.stringify(r.reply.slice(0, 300))}`,
    );
    assert.ok(r.closedByPeer, `${version}: the connection is closed after the 505`);
    assert.equal(
      await fx.clientErrors("http_version_not_supported"),
      counted + (parserRefused ? 1 : 0),
      version,
    );
  }
  assert.equal(fx.upstream.requests, asked, "no refused version reached the upstream");
  // A malformed version (two digits) is still malformed: 400, not 505.
  const bad = await rawSession(fx.port, DEADLINE_MS, (s) =>
    s.write("GET /v HTTP/1.10\r\nHost: a.example\r\n\r\n"),
  );
  assert.deepEqual(statusAndError(bad.reply), { status: 400, error: "bad_request" }, bad.reply.slice(0, 300));
});
