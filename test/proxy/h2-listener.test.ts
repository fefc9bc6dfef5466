// HTTP/2 on the public listener: h2c with prior knowledge on the plain port next to HTTP/1.1
// on the same port, h2 by ALPN over TLS, `Upgrade: h2c` declined (served over HTTP/1.1), PROXY
// protocol in front of h2c, the advertised limits, and a client that never reads holding the
// upstream back by flow control instead of growing the proxy's memory.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { connect as h2connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SILENT_LOG } from "../../config/log-sink.js";
import { CidrMatcher } from "../../proxy/routing/cidr-match.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { rawExchange } from "../support/raw-socket.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventuallyTrue } from "../support/wait.js";
import { planeOverUpstreams, send, startHarness } from "./harness.js";

test("h2c prior knowledge and HTTP/1.1 on one port: same routing, same member for a key", async (t) => {
  const h = await startHarness({ options: { memberHeader: "x-member" } });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  for (const user of ["alice", "bob", "carol", "dave"]) {
    const r2 = await h2Request(session, { path: `/a?u=${user}`, headers: { "x-user-id": user } });
    assert.equal(r2.status, 200, r2.text);
    const echoed = r2.json();
    assert.equal(echoed.path, `/a?u=${user}`);
    assert.equal(echoed.headers["x-forwarded-proto"], "http");
    assert.equal(echoed.headers.host, `127.0.0.1:${h.port}`);
    // No pseudo-header leaks to the HTTP/1.1 upstream.
    assert.ok(!Object.keys(echoed.headers).some((k) => k.startsWith(":")), JSON.stringify(echoed.headers));
    assert.equal(r2.headers["x-member"], echoed.member);
    const r1 = await send(h.port, { path: `/a?u=${user}`, headers: { "x-user-id": user } });
    assert.equal(r1.status, 200);
    assert.equal(r1.json().member, echoed.member, `key ${user} routed differently over h2 and HTTP/1.1`);
  }
  // A POST body goes through, and the access-log record is the same as HTTP/1.1's.
  const post = await h2Request(session, {
    method: "POST",
    path: "/p",
    headers: { "x-user-id": "alice", "content-type": "text/plain" },
    body: "hello over h2",
  });
  assert.equal(post.status, 200);
  assert.equal(post.json().body, "hello over h2");
  assert.ok(await eventuallyTrue(() => h.rec.ends.some((e) => e.method === "POST" && e.path === "/p")));
  const rec = h.rec.ends.find((e) => e.method === "POST" && e.path === "/p");
  assert.equal(rec?.status, 200);
  assert.equal(rec?.pool, "users");
  assert.ok((rec?.keyHash ?? -1) >= 0);
});

test("h2 errors are shardgate's JSON errors (no route -> 404, missing key -> 400)", async (t) => {
  const h = await startHarness({
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [
        {
          match: { host: "*", pathPrefix: "/api" },
          pool: "users",
          key: ["header:x-user-id"],
          onMissingKey: "reject",
        },
      ],
    }),
  });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  const none = await h2Request(session, { path: "/elsewhere" });
  assert.equal(none.status, 404);
  assert.equal(none.json().error, "no_route");
  const missing = await h2Request(session, { method: "POST", path: "/api/x", body: "x".repeat(1000) });
  assert.equal(missing.status, 400);
  assert.equal(missing.json().error, "missing_key");
  // The session survives its streams' errors.
  const ok = await h2Request(session, { path: "/api/y", headers: { "x-user-id": "u" } });
  assert.equal(ok.status, 200);
});

test("Upgrade: h2c on HTTP/1.1 is ignored: the request is served over HTTP/1.1", async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const reply = await rawExchange(
    h.port,
    "GET /up HTTP/1.1\r\nHost: a\r\nx-user-id: u1\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    10_000,
  );
  assert.match(reply, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(reply, /101 Switching/);
  const body = JSON.parse(reply.slice(reply.indexOf("{"), reply.lastIndexOf("}") + 1));
  assert.equal(body.path, "/up");
  assert.equal(body.headers.upgrade, undefined);
  assert.equal(body.headers["http2-settings"], undefined);
});

test("h2 over TLS by ALPN, HTTP/1.1 over TLS on the same port", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-h2tls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "leaf", "127.0.0.1", "IP:127.0.0.1");
  const ca = readFileSync(join(dir, "ca.pem"));
  const { config, plane } = await planeOverUpstreams(t, 2);
  const server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    listen: { timeouts: config.listen.timeouts, maxHeaderSize: config.listen.maxHeaderSize },
    tls: { cert: readFileSync(join(dir, "leaf.pem")), key: readFileSync(join(dir, "leaf.key")) },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
    plane.close();
  });
  const port = (server.address() as AddressInfo).port;
  const session = await h2Session(t, `https://127.0.0.1:${port}`, { ca });
  assert.equal(session.alpnProtocol, "h2");
  const r2 = await h2Request(session, { path: "/tls", headers: { "x-user-id": "k" } });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.json().headers["x-forwarded-proto"], "https");
  const h1 = await new Promise<{ proto: string; alpn: string | false }>((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, path: "/tls1", ca, headers: { "x-user-id": "k" }, agent: false },
      (res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () =>
          resolve({
            proto: JSON.parse(text).headers["x-forwarded-proto"],
            alpn: (res.socket as unknown as { alpnProtocol: string | false }).alpnProtocol,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
  assert.equal(h1.proto, "https");
  assert.notEqual(h1.alpn, "h2");
  assert.equal(typeof r2.json().member, "string");
});

test("PROXY v1 header in front of h2c: the header's client is the ip key and X-Forwarded-For", async (t) => {
  const trusted = new CidrMatcher([{ address: "127.0.0.0", prefix: 8, family: "ipv4" }]);
  const h = await startHarness({ proxyProtocol: trusted });
  t.after(() => h.close());
  const raw = connect(h.port, "127.0.0.1");
  await new Promise((r) => raw.once("connect", r));
  raw.write("PROXY TCP4 203.0.113.9 127.0.0.1 40000 8080\r\n");
  const session = h2connect(`http://127.0.0.1:${h.port}`, { createConnection: () => raw });
  t.after(() => session.destroy());
  session.on("error", () => undefined);
  const r = await h2Request(session, { path: "/pp", headers: { "x-user-id": "z" } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().headers["x-forwarded-for"], "203.0.113.9");
});

test("limits: streams per session and header list size are advertised and enforced", async (t) => {
  const h = await startHarness({ listen: { maxHeaderSize: 4096 } });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  assert.equal(session.remoteSettings.maxConcurrentStreams, 100);
  assert.equal(session.remoteSettings.maxHeaderListSize, 4096);
  // A header list past the limit is refused (stream reset or 431), never forwarded.
  const before = h.upstreams.reduce((n, u) => n + u.requests, 0);
  const big = await h2Request(session, {
    path: "/big",
    headers: { "x-user-id": "u", "x-pad": "p".repeat(8000) },
  }).then(
    (r) => `status ${r.status}`,
    (e: Error) => `error ${(e as NodeJS.ErrnoException).code}`,
  );
  assert.ok(big === "status 431" || big.startsWith("error"), big);
  assert.equal(
    h.upstreams.reduce((n, u) => n + u.requests, 0),
    before,
  );
});

/** An upstream streaming `total` bytes in 64 KB chunks, honouring backpressure; counts what it pushed. */
async function streamingUpstream(
  total: number,
): Promise<{ server: Server; port: number; pushed: () => number }> {
  let pushed = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": total });
    const pump = (): void => {
      while (pushed < total) {
        pushed += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, pushed: () => pushed };
}

test("a client that opens streams and never reads holds the upstream back (flow control)", async (t) => {
  const total = 64 * 1024 * 1024;
  const up = await streamingUpstream(total);
  t.after(() => {
    up.server.closeAllConnections();
    up.server.close();
  });
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: { big: { algorithm: "ring", members: [{ id: "big", address: `127.0.0.1:${up.port}` }] } },
      routes: [{ pool: "big", key: ["header:x-user-id"] }],
    }),
  });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  const stream = session.request({ ":path": "/big", "x-user-id": "u" });
  stream.pause(); // never read: the stream window (64 KB) fills and stays full
  await new Promise((r) => stream.once("response", r));
  // Wait until the upstream is held: its count stops moving across a full second.
  let last = -1;
  const settled = await eventuallyTrue(() => {
    const now = up.pushed();
    const still = now === last;
    last = now;
    return still && now > 0;
  }, 60_000).then(
    async (ok) => ok && (await new Promise((r) => setTimeout(r, 1000))) === undefined && up.pushed() === last,
  );
  assert.ok(settled, `upstream never stalled: pushed ${up.pushed()}`);
  // Kernel socket buffers on both hops plus the stream window: a few MB at most, not 64.
  assert.ok(up.pushed() < 16 * 1024 * 1024, `upstream pushed ${up.pushed()} bytes to a client reading none`);
  // Reading resumes the whole transfer.
  let got = 0;
  stream.on("data", (c: Buffer) => {
    got += c.length;
  });
  stream.resume();
  await new Promise((r) => stream.once("end", r));
  assert.equal(got, total);
});

test("listen.timeouts.request applies to h2 streams: a stalled upload gets 408, the session lives on", async (t) => {
  const codes: string[] = [];
  const h = await startHarness({
    listen: { request: 800, headers: 800 },
    onClientError: (c) => codes.push(c),
  });
  t.after(() => h.close());
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  const t0 = performance.now();
  const stalled = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const s = session.request({
      ":method": "POST",
      ":path": "/stall",
      "x-user-id": "u",
      "content-length": "100",
    });
    let status = 0;
    let body = "";
    s.on("response", (hd) => {
      status = Number(hd[":status"]);
    });
    s.setEncoding("utf8");
    s.on("data", (c: string) => {
      body += c;
    });
    s.on("close", () => resolve({ status, body }));
    s.on("error", reject);
    s.write("only a part"); // and never the rest
  });
  assert.equal(stalled.status, 408, stalled.body);
  assert.match(stalled.body, /client_timeout/);
  assert.ok(performance.now() - t0 < 10_000);
  assert.deepEqual(codes, ["client_timeout"]);
  // Not the member's fault, and the connection still serves.
  assert.equal(h.rec.upstreamErrors.length, 0);
  const ok = await h2Request(session, { path: "/after", headers: { "x-user-id": "u" } });
  assert.equal(ok.status, 200);
});
