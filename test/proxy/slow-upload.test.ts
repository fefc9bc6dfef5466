// Slow uploads (issue 10, item 1): the pool's response timeout starts once the request body
// was fully sent upstream, so a slow but legitimate upload is served; a client that stops
// sending its body gets one answer, 408 client_timeout, and no upstream error is recorded
// against the member (so no breaker moves).

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import { rawExchange, rawReply } from "../support/raw-socket.js";
import { eventuallyTrue } from "../support/wait.js";
import { defaultConfig, startHarness } from "./harness.js";

/** Sends `total` bytes of body in `pieces` writes spaced `everyMs` apart; resolves with status and body. */
function slowUpload(
  port: number,
  total: number,
  pieces: number,
  everyMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/upload",
        headers: { "x-user-id": "uploader", "content-length": String(total) },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    const piece = Buffer.alloc(Math.ceil(total / pieces), 0x61);
    let sent = 0;
    const tick = (): void => {
      const n = Math.min(piece.length, total - sent);
      sent += n;
      if (sent >= total) req.end(piece.subarray(0, n));
      else {
        req.write(piece.subarray(0, n));
        setTimeout(tick, everyMs);
      }
    };
    tick();
  });
}

/** A raw request that declares `declared` body bytes and sends one; collects every byte answered until close. */
function stalledBody(port: number, declared: number, ms: number): Promise<string> {
  return rawExchange(
    port,
    `POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: victim\r\nContent-Length: ${declared}\r\n\r\nx`,
    ms,
  );
}

test("an upload slower than timeouts.response is served: the response clock starts after the body", async (t) => {
  const h = await startHarness({
    members: 2,
    config: (members) => ({
      ...defaultConfig(members),
      pools: { users: { members, timeouts: { response: "250ms" } } },
    }),
  });
  t.after(() => h.close());
  // 12 KB over ~1.2 s: five times the response timeout.
  const r = await slowUpload(h.port, 12_000, 12, 100);
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).body.length, 12_000);
  assert.deepEqual(h.rec.upstreamErrors, []);
});

test("a body that stops arriving: one answer, 408 client_timeout, nothing against the member", async (t) => {
  const h = await startHarness({
    members: 2,
    listen: { headers: 300, request: 600 },
    config: (members) => ({
      ...defaultConfig(members),
      pools: { users: { members, timeouts: { response: "150ms" } } },
    }),
  });
  t.after(() => h.close());
  const replies = await Promise.all([1, 2, 3, 4, 5].map(() => stalledBody(h.port, 10, 4000)));
  for (const reply of replies) {
    const answers = reply.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.deepEqual(answers, ["HTTP/1.1 408"], `exactly one answer, a 408: ${JSON.stringify(reply)}`);
    assert.match(reply, /"error":"client_timeout"/);
  }
  assert.deepEqual(h.rec.upstreamErrors, [], "a slow client is never the member's failure");
  assert.ok(await eventuallyTrue(() => h.rec.ends.length === 5, 3000));
  for (const e of h.rec.ends) {
    assert.equal(e.status, 408);
    assert.equal(e.errorCode, "client_timeout");
  }
  assert.ok(await eventuallyTrue(() => h.plane.inFlight() === 0, 3000));
});

test("an upstream that stops reading the body is the member's fault: 504 upstream_timeout at the request timeout", async (t) => {
  // A member that accepts the connection and never reads: its socket fills, the proxy stops
  // reading the client (backpressure), and the client looks slow although it is not.
  const { createServer } = await import("node:net");
  const held = new Set<import("node:net").Socket>();
  const deaf = createServer((s) => {
    held.add(s);
    s.pause();
    s.on("error", () => {});
  });
  await new Promise<void>((r) => deaf.listen(0, "127.0.0.1", r));
  t.after(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => deaf.close(() => r()));
  });
  const port = (deaf.address() as import("node:net").AddressInfo).port;
  const h = await startHarness({
    members: 1,
    listen: { headers: 300, request: 800 },
    config: () => ({
      ...defaultConfig([]),
      pools: {
        users: { members: [{ id: "deaf", address: `127.0.0.1:${port}` }], timeouts: { response: "10s" } },
      },
    }),
  });
  t.after(() => h.close());
  const total = 64 * 1024 * 1024;
  const reply = await rawReply(h.port, 8000, (s) => {
    s.write(`POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nContent-Length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    const pump = (): void => {
      while (sent < total && !s.destroyed) {
        sent += chunk.length;
        if (!s.write(chunk)) {
          s.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
  assert.deepEqual(reply.match(/HTTP\/1\.1 \d{3}/g), ["HTTP/1.1 504"], JSON.stringify(reply.slice(0, 200)));
  assert.match(reply, /"error":"upstream_timeout"/);
  assert.deepEqual(h.rec.upstreamErrors, [{ member: "deaf", kind: "timeout" }]);
});
