// Status codes at the protocol edges (issue 10, item 5), compared with nginx, every error in
// shardgate's JSON format: CONNECT 405, Host missing/repeated/malformed 400, HTTP/2.0 505,
// Expect other than 100-continue 417, a 20 KB URL 414, an h2c upgrade offer ignored (served
// over HTTP/1.1), no committed state 503 + Retry-After, an upstream-cut response logged as
// upstream_reset with the status the client saw, and /admin/route's empty-key explanation.

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { CommittedRouting } from "../../proxy/cluster/committed-routing.js";
import { createDataPlane } from "../../proxy/forward/data-plane.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { rawExchange } from "../support/raw-socket.js";
import { eventuallyTrue } from "../support/wait.js";
import { defaultConfig, send, startHarness } from "./harness.js";

function statusOf(reply: string): number {
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(reply);
  return m === null ? 0 : Number(m[1]);
}

/** The payload of a chunked body (the proxy streams the echo without a length). */
function dechunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const eol = rest.indexOf("\r\n");
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (eol < 0 || !(size > 0)) return out === "" ? body : out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 4 + size);
  }
}

function errorOf(reply: string): string {
  const body = reply.slice(reply.indexOf("\r\n\r\n") + 4);
  try {
    return JSON.parse(body).error;
  } catch {
    return `not JSON: ${JSON.stringify(body.slice(0, 80))}`;
  }
}

test("protocol edges answer the RFC status with a JSON error", async (t) => {
  const h = await startHarness({
    members: 1,
    config: (members) => ({
      pools: { users: { members } },
      routes: [
        { match: { host: "api.example.com", pathPrefix: "/" }, pool: "users", key: ["header:x-user-id"] },
      ],
    }),
  });
  t.after(() => h.close());
  const cases: Array<[string, string, number, string]> = [
    [
      "CONNECT",
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
      405,
      "method_not_allowed",
    ],
    ["no Host", "GET / HTTP/1.1\r\nX-User-Id: k\r\n\r\n", 400, "invalid_host"],
    [
      "two Hosts",
      "GET / HTTP/1.1\r\nHost: api.example.com\r\nHost: other\r\nX-User-Id: k\r\n\r\n",
      400,
      "invalid_host",
    ],
    [
      "userinfo in Host",
      "GET / HTTP/1.1\r\nHost: api.example.com:80@evil\r\nX-User-Id: k\r\n\r\n",
      400,
      "invalid_host",
    ],
    [
      "HTTP/2.0 line",
      "GET / HTTP/2.0\r\nHost: api.example.com\r\nX-User-Id: k\r\n\r\n",
      505,
      "http_version_not_supported",
    ],
    [
      "Expect: bogus",
      "GET / HTTP/1.1\r\nHost: api.example.com\r\nExpect: bogus\r\nX-User-Id: k\r\n\r\n",
      417,
      "expectation_failed",
    ],
    [
      "20 KB URL",
      `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: api.example.com\r\n\r\n`,
      414,
      "uri_too_long",
    ],
  ];
  for (const [name, payload, status, code] of cases) {
    const reply = await rawExchange(h.port, payload, 3000);
    assert.equal(statusOf(reply), status, `${name}: ${JSON.stringify(reply.slice(0, 120))}`);
    assert.equal(errorOf(reply), code, name);
    if (status === 405) assert.match(reply, /\r\nAllow: GET/i);
  }
  const ok = await rawExchange(
    h.port,
    "GET / HTTP/1.1\r\nHost: api.example.com:8080\r\nX-User-Id: k\r\nConnection: close\r\n\r\n",
    3000,
  );
  assert.equal(statusOf(ok), 200, "a host with a port is fine");
  const v10 = await rawExchange(h.port, "GET / HTTP/1.0\r\nX-User-Id: k\r\n\r\n", 3000);
  assert.equal(statusOf(v10), 404, "HTTP/1.0 may omit Host (no route here, but not a 400)");
});

test("an h2c upgrade offer is ignored and the request served over HTTP/1.1 (curl --http2 on http://)", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  const reply = await rawExchange(
    h.port,
    "GET /h2c HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    3000,
  );
  assert.equal(statusOf(reply), 200, JSON.stringify(reply.slice(0, 200)));
  const echoed = JSON.parse(dechunk(reply.slice(reply.indexOf("\r\n\r\n") + 4)));
  assert.equal(echoed.path, "/h2c");
  assert.equal(echoed.headers.upgrade, undefined, "the offer stays on its hop");
  assert.equal(echoed.headers["http2-settings"], undefined);
  assert.ok(await eventuallyTrue(() => h.plane.inFlight() === 0, 3000));
  assert.equal(h.rec.ends.at(-1)?.status, 200);
});

test("before a committed state exists, an unmatched request gets 503 no_committed_state with Retry-After", async (t) => {
  const routing = new CommittedRouting();
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const plane = createDataPlane({ getState: routing.current, hooks: { onRequestEnd() {} }, logger: silent });
  const server = createProxyServer({
    dataPlane: plane,
    logger: silent,
    listen: {
      timeouts: { request: 5000, headers: 2000, idle: 5000, keepAlive: 1000 },
      maxHeaderSize: 16_384,
    },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    plane.close();
  });
  const r = await send((server.address() as AddressInfo).port, { headers: { "x-user-id": "k" } });
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json().error, "no_committed_state");
  assert.equal(r.headers["retry-after"], "1");
});

test("a response the upstream cut short is logged as upstream_reset with the status the client saw", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  h.upstreams[0].mode = { kind: "resetMidBody" };
  await assert.rejects(send(h.port, { headers: { "x-user-id": "k" } }));
  assert.ok(await eventuallyTrue(() => h.rec.ends.length === 1, 3000));
  const end = h.rec.ends[0];
  assert.equal(end.status, 200, "the client saw a 200 head, not a 499");
  assert.equal(end.errorCode, "upstream_reset");
  assert.deepEqual(h.rec.upstreamErrors, [{ member: h.upstreams[0].id, kind: "reset" }]);
});

test("/admin/route with an empty key explains the route's onMissingKey, not key hash 0", async (t) => {
  const h = await startHarness({
    members: 2,
    config: (members) => ({
      ...defaultConfig(members),
      routes: [
        {
          match: { host: "*", pathPrefix: "/" },
          pool: "users",
          key: ["header:x-user-id"],
          onMissingKey: "reject",
        },
      ],
    }),
  });
  t.after(() => h.close());
  const e = h.plane.explain("users", "");
  assert.ok(e);
  assert.equal(e.member, null);
  assert.equal(e.keyHash, -1);
  assert.deepEqual(
    e.onMissingKey?.map((m) => m.policy),
    ["reject"],
  );
  assert.match(e.note ?? "", /missing key/);
  const r = await send(h.port, {});
  assert.equal(r.json().error, "missing_key", "and the data plane does what it says");
});
