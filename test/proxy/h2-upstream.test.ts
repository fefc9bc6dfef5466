// Pools with `protocol: h2c | h2`: requests (from HTTP/1.1 and HTTP/2 clients) are forwarded
// on one HTTP/2 session per member address, routed by key as any pool, with trailers passed through,
// connect failures retried on the next member, response timeouts answered 504, and a session
// the member closes with GOAWAY replaced by a new one.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createH2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { crossCheck } from "../../config/file/cross-check.js";
import { h2Session } from "../support/h2-client.js";
import { type H2Upstream, startH2Upstream } from "../support/h2-upstreams.js";
import { rawExchange } from "../support/raw-socket.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventuallyTrue } from "../support/wait.js";
import { send, startHarness } from "./harness.js";

async function h2Pool(
  t: { after(fn: () => unknown): void },
  n: number,
  extra: Record<string, unknown> = {},
  tls?: { certFile: string; keyFile: string; ca: string },
) {
  const ups: H2Upstream[] = [];
  for (let i = 0; i < n; i++) ups.push(await startH2Upstream(`h${i}`, tls));
  t.after(() => Promise.all(ups.map((u) => u.close())));
  const h = await startHarness({
    members: 1,
    options: { memberHeader: "x-member" },
    config: () => ({
      pools: {
        grpcish: {
          algorithm: "ring",
          protocol: tls === undefined ? "h2c" : "h2",
          members: ups.map((u) => ({ id: u.id, address: `127.0.0.1:${u.port}` })),
          ...(tls === undefined ? {} : { tls: { ca: tls.ca } }),
          ...extra,
        },
      },
      routes: [{ pool: "grpcish", key: ["header:x-user-id"] }],
    }),
  });
  t.after(() => h.close());
  return { ups, h };
}

/** A request from an HTTP/2 client with trailers collected. */
function h2Call(
  session: import("node:http2").ClientHttp2Session,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{
  status: number;
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  text: string;
}> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ":method": body === undefined ? "GET" : "POST", ":path": path, ...headers });
    let head: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    let text = "";
    s.on("response", (h) => {
      head = h;
    });
    s.on("trailers", (tr) => {
      trailers = tr;
    });
    s.setEncoding("utf8");
    s.on("data", (c: string) => {
      text += c;
    });
    s.on("end", () => resolve({ status: Number(head[":status"]), headers: head, trailers, text }));
    s.on("error", reject);
    s.end(body);
  });
}

test("h2c pool: HTTP/1.1 and HTTP/2 clients, one session per member, key routing, trailers", async (t) => {
  const { ups, h } = await h2Pool(t, 3);
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  for (let i = 0; i < 12; i++) {
    const user = `user-${i}`;
    const r2 = await h2Call(session, `/x/${i}`, { "x-user-id": user }, `body-${i}`);
    assert.equal(r2.status, 200, r2.text);
    const e = JSON.parse(r2.text);
    assert.equal(e.body, `body-${i}`);
    assert.equal(e.path, `/x/${i}`);
    assert.equal(e.headers[":authority"], `127.0.0.1:${h.port}`);
    assert.equal(r2.trailers["x-echo-trailer"], e.member, "upstream trailers reach the h2 client");
    const r1 = await send(h.port, { path: `/x/${i}`, headers: { "x-user-id": user } });
    assert.equal(r1.status, 200);
    assert.equal(
      r1.json().member,
      e.member,
      `key ${user}: HTTP/1.1 and h2 clients reached different members`,
    );
    assert.equal(r1.headers["x-member"], e.member);
  }
  // Multiplexed: one session per member however many requests went there.
  for (const u of ups) assert.ok(u.sessions <= 1, `${u.id} saw ${u.sessions} sessions`);
  assert.equal(
    ups.reduce((n, u) => n + u.requests, 0),
    24,
  );
  assert.ok(ups.filter((u) => u.requests > 0).length >= 2, "12 keys all on one member");
});

test("h2c pool: a refusing member is retried on the next one and skipped locally", async (t) => {
  // A port with nothing listening: take one and close it.
  const dead = createNetServer();
  await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
  const deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const up = await startH2Upstream("alive");
  t.after(() => up.close());
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: {
        p: {
          protocol: "h2c",
          members: [
            { id: "dead", address: `127.0.0.1:${deadPort}` },
            { id: "alive", address: `127.0.0.1:${up.port}` },
          ],
        },
      },
      routes: [{ pool: "p", key: ["header:x-user-id"] }],
    }),
  });
  t.after(() => h.close());
  // Find keys owned by "dead": all of them must still be answered, by "alive".
  let deadOwned = 0;
  for (let i = 0; i < 40 && deadOwned < 3; i++) {
    const r = await send(h.port, { path: "/r", headers: { "x-user-id": `k${i}` } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().member, "alive");
    if (h.rec.retries.length > deadOwned) deadOwned = h.rec.retries.length;
  }
  assert.ok(
    h.rec.upstreamErrors.some((e) => e.member === "dead" && e.kind === "connect"),
    JSON.stringify(h.rec.upstreamErrors),
  );
  assert.ok(h.rec.localSkips.includes("dead"));
});

test("h2c pool: response timeout answers 504; a GOAWAY after each answer gets a new session", async (t) => {
  const { ups, h } = await h2Pool(t, 1, { timeouts: { response: "300ms" } });
  ups[0].mode.delayHeadMs = 3000;
  const slow = await send(h.port, { path: "/slow", headers: { "x-user-id": "a" } });
  assert.equal(slow.status, 504);
  assert.equal(slow.json().error, "upstream_timeout");
  ups[0].mode = { goawayAfter: true };
  for (let i = 0; i < 4; i++) {
    const r = await send(h.port, { path: `/g${i}`, headers: { "x-user-id": "a" } });
    assert.equal(r.status, 200, `request ${i} after GOAWAY: ${r.text}`);
  }
  assert.ok(ups[0].sessions >= 3, `sessions: ${ups[0].sessions}`);
});

test("h2 pool over TLS: verified against the pool's CA", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-h2up-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "up", "127.0.0.1", "IP:127.0.0.1");
  const { h } = await h2Pool(
    t,
    2,
    {},
    {
      certFile: join(dir, "up.pem"),
      keyFile: join(dir, "up.key"),
      ca: join(dir, "ca.pem"),
    },
  );
  const r = await send(h.port, {
    method: "POST",
    path: "/tls",
    headers: { "x-user-id": "t" },
    body: "sealed",
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().body, "sealed");
  assert.equal(r.json().headers[":scheme"], "https");
  void readFileSync;
});

test("h2 pools: a WebSocket upgrade is refused with upgrade_not_supported; a cache is a config error", async (t) => {
  const { ups, h } = await h2Pool(t, 1);
  const reply = await rawExchange(
    h.port,
    "GET /ws HTTP/1.1\r\nHost: a\r\nx-user-id: u\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    10_000,
  );
  assert.match(reply, /^HTTP\/1\.1 400 /);
  assert.match(reply, /"error":"upgrade_not_supported"/);
  assert.equal(ups[0].requests, 0);
  assert.equal(h.rec.upstreamErrors.length, 0);

  const issues = crossCheck(
    {
      pools: { g: { protocol: "h2c", members: [{ id: "a", address: "127.0.0.1:1" }] } },
      routes: [{ pool: "g", key: ["header:x"], cache: { ttl: "1s" } }],
    },
    false,
  );
  assert.deepEqual(
    issues.map((i) => i.path.join(".")),
    ["routes.0.cache"],
  );
  assert.match(issues[0].message, /protocol h2c/);
});

test("gRPC call reset by the upstream mid-stream ends with UNAVAILABLE trailers, counted as upstream_reset", async (t) => {
  const upstream = createH2Server();
  upstream.on("stream", (stream) => {
    stream.on("error", () => undefined);
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    // One length-prefixed message, then the connection drops (a crashed process).
    const session = stream.session;
    stream.write(Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]), () => setTimeout(() => session?.destroy(), 50));
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => upstream.close(() => r())));
  const port = (upstream.address() as AddressInfo).port;
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: { g: { protocol: "h2c", members: [{ id: "crashy", address: `127.0.0.1:${port}` }] } },
      routes: [{ pool: "g", key: ["header:x-tenant"] }],
    }),
  });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  const out = await new Promise<{ body: number; trailers: Record<string, unknown> }>((resolve, reject) => {
    const s = session.request({
      ":method": "POST",
      ":path": "/svc/Method",
      "content-type": "application/grpc",
      te: "trailers",
      "x-tenant": "t",
    });
    let body = 0;
    let trailers: Record<string, unknown> = {};
    s.on("data", (c: Buffer) => {
      body += c.length;
    });
    s.on("trailers", (tr) => {
      trailers = tr;
    });
    s.on("end", () => resolve({ body, trailers }));
    s.on("error", reject);
    s.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  assert.equal(out.body, 7, "the message sent before the reset reaches the client");
  assert.equal(out.trailers["grpc-status"], "14");
  assert.match(String(out.trailers["grpc-message"]), /upstream_reset/);
  assert.ok(await eventuallyTrue(() => h.rec.ends.length === 1));
  assert.equal(h.rec.ends[0].errorCode, "upstream_reset");
  assert.deepEqual(h.rec.upstreamErrors, [{ member: "crashy", kind: "reset" }]);
});
