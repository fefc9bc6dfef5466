// HTTP/2 clients at the drain deadline, in the shutdown's own order (proxy/app/shutdown.ts: the
// data plane closes, a tick later every client connection): a stream waiting for its member's
// head is answered 503 shutting_down on both engines, and a gRPC call waiting on an h2c member
// ends with UNAVAILABLE (a status its client may retry elsewhere), not a bare reset; nothing is
// counted against the member.
// Found: close() destroyed the h2 member sessions without an error, which ends their open
// streams as if whole (no reset code): an answer being relayed from an h2c member was ended to
// its client, truncated, as complete and logged a success; a gRPC call the member was answering
// ended INTERNAL "upstream_no_grpc_status", logged as the member's bad response. The sessions
// are now destroyed with an error: the answer is cut, the gRPC call ends UNAVAILABLE
// shutting_down. (In the shutdown's own order the client's connection may close before those
// trailers go out; the client reads the dropped connection as UNAVAILABLE too.)

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { createServer as createH2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { type Client, Metadata, status } from "@grpc/grpc-js";
import { ECHO_SERVICE, echoClient, startGrpcEcho } from "../support/grpc-echo.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { ENGINES } from "../support/per-engine.js";
import { eventually } from "../support/wait.js";
import { type Harness, startHarness } from "./harness.js";

/** What drainAndClose does at the deadline, minus its waits. */
async function cutAtDeadline(h: Harness): Promise<void> {
  h.plane.close();
  await new Promise((r) => setImmediate(r));
  h.server.closeAllConnections();
}

for (const engine of ENGINES) {
  test(`${engine}: an HTTP/2 stream waiting for its member at the deadline gets 503 shutting_down`, async (t) => {
    const h = await startHarness({ members: 1, options: { engine } });
    t.after(() => h.close());
    h.upstreams[0].mode = { kind: "delayHeaders", ms: 10_000 };
    const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
    const reply = h2Request(session, { path: "/slow", headers: { "x-user-id": "k" } });
    await eventually("the member has the request", () => (h.upstreams[0].requests === 1 ? true : undefined));
    await cutAtDeadline(h);
    const r = await reply;
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json().error, "shutting_down");
    await eventually("the request's record", () => (h.rec.ends.length === 1 ? true : undefined));
    assert.equal(h.rec.ends[0].errorCode, "shutting_down");
    assert.deepEqual(h.rec.upstreamErrors, [], "nothing counted against the member");
  });
}

function slowCall(client: Client): Promise<{ code: number; details: string }> {
  const meta = new Metadata();
  meta.set("x-tenant", "t1");
  return new Promise((resolve) => {
    const call = client.makeUnaryRequest(
      ECHO_SERVICE.Slow.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from("x"),
      meta,
      { deadline: Date.now() + 20_000 },
      () => undefined,
    );
    call.on("status", (st) => resolve({ code: st.code, details: st.details }));
  });
}

test("a gRPC call waiting on its h2c member at the deadline ends UNAVAILABLE, shutting_down", async (t) => {
  const server = await startGrpcEcho("g0");
  t.after(() => server.close());
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: {
        grpc: {
          protocol: "h2c",
          members: [{ id: server.id, address: `127.0.0.1:${server.port}` }],
          timeouts: { response: "30s" },
        },
      },
      routes: [{ pool: "grpc", key: ["header:x-tenant"], onMissingKey: "reject" }],
    }),
  });
  t.after(() => h.close());
  const client = echoClient(h.port);
  t.after(() => client.close());
  const done = slowCall(client);
  await eventually("the call is in flight", () => (h.plane.inFlight() === 1 ? true : undefined));
  // The member has the call's stream (its head went out): give it a moment on the wire.
  await eventually("the call reached the member", () =>
    h.plane.upstreamSockets().busy + h.plane.upstreamSockets().idle > 0 ? true : undefined,
  );
  await cutAtDeadline(h);
  const st = await done;
  assert.equal(st.code, status.UNAVAILABLE, st.details);
  assert.match(st.details, /shutting_down/);
  await eventually("the call's record", () => (h.rec.ends.length === 1 ? true : undefined));
  assert.equal(h.rec.ends[0].errorCode, "shutting_down");
  assert.deepEqual(h.rec.upstreamErrors, [], "nothing counted against the member");
});

test("a gRPC stream the member is answering at the deadline ends UNAVAILABLE saying shutting_down, not upstream_reset", async (t) => {
  const server = await startGrpcEcho("g0");
  t.after(() => server.close());
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: { grpc: { protocol: "h2c", members: [{ id: server.id, address: `127.0.0.1:${server.port}` }] } },
      routes: [{ pool: "grpc", key: ["header:x-tenant"], onMissingKey: "reject" }],
    }),
  });
  t.after(() => h.close());
  const client = echoClient(h.port);
  t.after(() => client.close());
  const meta = new Metadata();
  meta.set("x-tenant", "t1");
  const call = client.makeBidiStreamRequest(
    ECHO_SERVICE.Bidi.path,
    (b: Buffer) => b,
    (b: Buffer) => b,
    meta,
    { deadline: Date.now() + 20_000 },
  );
  call.on("error", () => undefined);
  const ended = new Promise<{ code: number; details: string }>((resolve) =>
    call.on("status", (st) => resolve({ code: st.code, details: st.details })),
  );
  const first = new Promise<string>((resolve) => call.once("data", (b: Buffer) => resolve(String(b))));
  call.write(Buffer.from("one"));
  assert.equal(await first, "g0:one", "the member answers mid-call");
  // The data plane's close alone (the client's connection stays): what the call is told.
  h.plane.close();
  const st = await ended;
  assert.equal(st.code, status.UNAVAILABLE, st.details);
  assert.match(st.details, /shutting_down/, "the client is told why: this instance's shutdown");
  await eventually("the call's record", () => (h.rec.ends.length === 1 ? true : undefined));
  assert.equal(h.rec.ends[0].errorCode, "shutting_down");
  assert.deepEqual(h.rec.upstreamErrors, [], "nothing counted against the member");
});

test("an answer streaming from an h2c member at the deadline is cut, never ended as if whole", async (t) => {
  const member = createH2Server((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first bytes ");
  });
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise((r) => member.close(r)));
  const port = (member.address() as AddressInfo).port;
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: { h2: { protocol: "h2c", members: [{ id: "m1", address: `127.0.0.1:${port}` }] } },
      routes: [{ pool: "h2", key: ["header:x-user-id"] }],
    }),
  });
  t.after(() => h.close());
  const ended = new Promise<{ status: number; body: string; how: string }>((resolve) => {
    const req = httpRequest(
      { host: "127.0.0.1", port: h.port, path: "/stream", headers: { "x-user-id": "k" }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
          if (body === "first bytes ") h.plane.close();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, how: "end" }));
        res.on("aborted", () => resolve({ status: res.statusCode ?? 0, body, how: "aborted" }));
        res.on("error", () => resolve({ status: res.statusCode ?? 0, body, how: "aborted" }));
      },
    );
    req.on("error", () => resolve({ status: 0, body: "", how: "error" }));
    req.end();
  });
  const r = await ended;
  assert.equal(r.status, 200);
  assert.equal(r.how, "aborted", `a cut answer must not look whole: ${JSON.stringify(r)}`);
  await eventually("the request's record", () => (h.rec.ends.length === 1 ? true : undefined));
  assert.equal(h.rec.ends[0].errorCode, "shutting_down");
  assert.deepEqual(h.rec.upstreamErrors, [], "nothing counted against the member");
});
