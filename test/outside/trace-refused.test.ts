// TRACE tried from the outside. It was forwarded: the upstream echoed the request back with the
// client's Cookie and Authorization and every header shardgate adds (X-Forwarded-*, Forwarded,
// the request id), which is cross-site tracing (XST) and a look at the edge's internal headers.
// Now the edge answers it itself, as nginx does: 405 method_not_allowed with Allow, counted in
// shardgate_downstream_client_errors_total{code="method_not_allowed"}, never forwarded, on
// HTTP/1.1 (the connection is closed, a request pipelined behind it never served) and HTTP/2.
// Real shardgate process, raw sockets and an h2c session, loopback.

import assert from "node:assert/strict";
import { test } from "node:test";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { rawSession } from "../support/raw-socket.js";

const fx = echoBehindProxy();

/** Bounds a wait that ends as soon as shardgate closes; only a failure waits this long. */
const DEADLINE_MS = 20_000;

const refusedCount = (): Promise<number> => fx.clientErrors("method_not_allowed");

test("HTTP/1.1 TRACE: 405 with Allow, counted, never forwarded; a request pipelined behind it is not served", async () => {
  const before = fx.upstream.trafficRequests;
  const counted = await refusedCount();
  const { reply, closedByPeer } = await rawSession(fx.port, DEADLINE_MS, (s) => {
    s.write(
      "TRACE /secret HTTP/1.1\r\nHost: a.example\r\nx-user-id: t\r\nCookie: session=s3cret\r\n\r\n" +
        "GET /behind HTTP/1.1\r\nHost: a.example\r\nx-user-id: t\r\n\r\n",
    );
  });
  assert.ok(closedByPeer, "the connection is closed after the 405");
  assert.match(reply, /^HTTP\/1\.1 405 /, JSON.stringify(reply.slice(0, 300)));
  assert.match(reply, /\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i);
  assert.match(reply, /"error":"method_not_allowed"/);
  assert.doesNotMatch(reply, /s3cret/, "the request is not echoed back");
  assert.equal((reply.match(/HTTP\/1\.1 \d{3}/g) ?? []).length, 1, "nothing served after the refusal");
  assert.equal(fx.upstream.trafficRequests, before, "no request reached the upstream");
  assert.equal(await refusedCount(), counted + 1);
});

test("HTTP/2 TRACE: 405 with Allow on the stream, never forwarded; the session goes on", async (t) => {
  const before = fx.upstream.trafficRequests;
  const session = await h2Session(t, fx.sg.httpUrl);
  const r = await h2Request(session, {
    method: "TRACE",
    path: "/secret",
    headers: { "x-user-id": "t", cookie: "session=s3cret" },
  });
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  assert.equal(r.json().error, "method_not_allowed");
  assert.equal(fx.upstream.trafficRequests, before, "no request reached the upstream");
  const next = await h2Request(session, { path: "/after", headers: { "x-user-id": "t" } });
  assert.equal(next.status, 200);
});
