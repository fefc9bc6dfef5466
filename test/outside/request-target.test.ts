// Tried from the outside: the request-target's limits on HTTP/1.1 and HTTP/2 alike (README
// "Error codes", "Security limits"), against a real shardgate process on loopback.
// - A `#fragment` (RFC 9112 section 3.2: a request-target has none) was forwarded upstream on
//   both protocols. Now 400 fragment_in_target, counted, never forwarded; HTTP/1.1 closes the
//   connection, HTTP/2 answers on the stream and the session goes on.
// - HTTP/2 :path had no 8 KB limit (HTTP/1.1's request line gets 414 past it): a 9 KB path
//   was forwarded. Now 414 uri_too_long on the stream, counted as the HTTP/1.1 one.
// - HTTP/2 :authority beside a Host header was never looked at, at any size or shape. Now
//   held to what a Host is: 400 invalid_host.

import assert from "node:assert/strict";
import { test } from "node:test";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { rawSession } from "../support/raw-socket.js";

const fx = echoBehindProxy();

const DEADLINE_MS = 20_000;

function errorOf(text: string): unknown {
  try {
    return (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    return `(no JSON: ${JSON.stringify(text.slice(0, 80))})`;
  }
}

test("HTTP/1.1: a target with a #fragment gets 400 fragment_in_target, closed, counted, never forwarded", async () => {
  const before = fx.upstream.requests;
  const counted = await fx.clientErrors("fragment_in_target");
  for (const target of ["/a#frag", "/a?q=1#", "/#/b"]) {
    const { reply, closedByPeer } = await rawSession(fx.port, DEADLINE_MS, (s) => {
      // A second request pipelined behind: never served either.
      s.write(
        `GET ${target} HTTP/1.1\r\nHost: a.example\r\nx-user-id: k\r\n\r\nGET /next HTTP/1.1\r\nHost: a.example\r\n\r\n`,
      );
    });
    assert.ok(closedByPeer, target);
    const statuses = reply.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.deepEqual(statuses, ["HTTP/1.1 400"], `${target}: ${JSON.stringify(reply.slice(0, 300))}`);
    assert.equal(errorOf(reply.slice(reply.indexOf("\r\n\r\n") + 4)), "fragment_in_target", target);
  }
  assert.equal(fx.upstream.requests, before, "no request reached the upstream");
  assert.equal(await fx.clientErrors("fragment_in_target"), counted + 3);
});

test("h2c: #fragment gets 400 fragment_in_target and a :path over 8 KB 414 uri_too_long, on the stream; the session goes on", async (t) => {
  const session = await h2Session(t, fx.sg.httpUrl);
  const before = fx.upstream.requests;
  const frags = await fx.clientErrors("fragment_in_target");
  const long = await fx.clientErrors("uri_too_long");
  const frag = await h2Request(session, { path: "/a#frag", headers: { "x-user-id": "k" } });
  assert.equal(frag.status, 400, frag.text);
  assert.equal(errorOf(frag.text), "fragment_in_target");
  // 8,193 bytes: one past the HTTP/1.1 request line's limit.
  const tooLong = await h2Request(session, { path: `/${"a".repeat(8192)}`, headers: { "x-user-id": "k" } });
  assert.equal(tooLong.status, 414, tooLong.text.slice(0, 200));
  assert.equal(errorOf(tooLong.text), "uri_too_long");
  assert.equal(fx.upstream.requests, before, "neither reached the upstream");
  // At the limit it is forwarded, on the same session.
  const atLimit = await h2Request(session, { path: `/${"b".repeat(8191)}`, headers: { "x-user-id": "k" } });
  assert.equal(atLimit.status, 200, atLimit.text.slice(0, 200));
  assert.equal(fx.upstream.requests, before + 1);
  assert.equal(await fx.clientErrors("fragment_in_target"), frags + 1);
  assert.equal(await fx.clientErrors("uri_too_long"), long + 1);
});

test("h2c: an :authority that is no host[:port] is refused 400 invalid_host even beside a Host header", async (t) => {
  const session = await h2Session(t, fx.sg.httpUrl);
  const before = fx.upstream.requests;
  for (const authority of ["a".repeat(2000), "a.example:80@evil"]) {
    const r = await h2Request(session, {
      path: "/auth",
      headers: { ":authority": authority, host: "a.example", "x-user-id": "k" },
    });
    assert.equal(r.status, 400, `${authority.slice(0, 40)}: ${r.text.slice(0, 200)}`);
    assert.equal(errorOf(r.text), "invalid_host");
  }
  assert.equal(fx.upstream.requests, before, "never forwarded");
});
