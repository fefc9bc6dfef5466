// Garbage at the listener: random bytes, truncated request lines, invalid methods, huge
// headers (431), bad framing, and a slowloris client. Each gets a clear answer or a
// closed socket, and the proxy keeps serving real requests in between.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { seededRandom } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { rawExchange } from "../support/raw-socket.js";
import { send, startHarness } from "./harness.js";

test("malformed requests get 400 bad_request JSON and the proxy keeps serving", async (t) => {
  const h = await startHarness({ members: 2 });
  t.after(() => h.close());
  const cases: Array<[string, string]> = [
    ["invalid method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n"],
    // A well-formed but unknown version is 505 (test/outside/request-line.test.ts); a malformed one is 400.
    ["bad version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n"],
    ["space in header name", "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"],
    [
      "CL and TE together",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ["bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"],
    ["NUL in request line", "GET /\u0000 HTTP/1.1\r\nHost: a\r\n\r\n"],
    ["authority-form outside CONNECT", "GET evil:80 HTTP/1.1\r\nHost: a\r\n\r\n"],
    ["absolute-form of another scheme", "GET ftp://evil/ HTTP/1.1\r\nHost: a\r\n\r\n"],
  ];
  for (const [name, payload] of cases) {
    const reply = await rawExchange(h.port, payload);
    assert.match(reply, /^HTTP\/1\.1 400 /, `${name}: ${JSON.stringify(reply.slice(0, 60))}`);
    assert.match(reply, /"error":"bad_request"/, name);
    assert.equal(
      (await send(h.port, { headers: { "x-user-id": name } })).status,
      200,
      `serves after: ${name}`,
    );
  }
});

test("headers over maxHeaderSize -> 431 headers_too_large", async (t) => {
  const h = await startHarness({ members: 1, listen: { maxHeaderSize: 4096 } });
  t.after(() => h.close());
  const reply = await rawExchange(h.port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(8000)}\r\n\r\n`);
  assert.match(reply, /^HTTP\/1\.1 431 /);
  assert.match(reply, /"error":"headers_too_large"/);
  const many = Array.from({ length: 800 }, (_, i) => `X-H${i}: v`).join("\r\n");
  assert.match(await rawExchange(h.port, `GET / HTTP/1.1\r\nHost: a\r\n${many}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  assert.equal((await send(h.port, { headers: { "x-user-id": "ok" } })).status, 200);
});

test("seeded random bytes and truncated requests never crash the listener", async (t) => {
  const h = await startHarness({ members: 2 });
  t.after(() => h.close());
  const seed = testSeed(9090);
  const rnd = seededRandom(seed);
  const valid = "GET /path?q=1 HTTP/1.1\r\nHost: a\r\nX-User-Id: u\r\nCookie: uid=1\r\n\r\n";
  for (let i = 0; i < 40; i++) {
    let payload: Buffer;
    if (i % 3 === 0) {
      payload = Buffer.from(
        Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)),
      );
    } else if (i % 3 === 1) {
      payload = Buffer.from(valid.slice(0, Math.floor(rnd() * valid.length)));
    } else {
      const b = Buffer.from(valid);
      for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      payload = b;
    }
    const reply = await rawExchange(h.port, payload, 300, true);
    assert.ok(
      reply === "" || /^HTTP\/1\.1 \d{3} /.test(reply),
      `${seedNote(seed)} case ${i}: ${JSON.stringify(reply.slice(0, 40))}`,
    );
  }
  assert.equal((await send(h.port, { headers: { "x-user-id": "still-alive" } })).status, 200, seedNote(seed));
});

test("slowloris clients are cut off by the headers timeout while others are served", async (t) => {
  const h = await startHarness({ members: 1, listen: { headers: 300, request: 600 } });
  t.after(() => h.close());
  const sockets = Array.from({ length: 20 }, () => connect(h.port, "127.0.0.1"));
  const closed = sockets.map(
    (s) =>
      new Promise<string>((resolve) => {
        let got = "";
        s.on("data", (d) => {
          got += d.toString();
        });
        s.on("error", () => {});
        s.on("close", () => resolve(got));
      }),
  );
  for (const s of sockets) s.write("GET / HTTP/1.1\r\nHost: a\r\n");
  // Drip one header byte at a time, well inside the idle timeout but never finishing.
  const drip = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write("X");
  }, 50);
  t.after(() => clearInterval(drip));
  assert.equal((await send(h.port, { headers: { "x-user-id": "normal" } })).status, 200);
  const replies = await Promise.race([
    Promise.all(closed),
    new Promise<null>((r) => setTimeout(() => r(null), 5000)),
  ]);
  clearInterval(drip);
  for (const s of sockets) s.destroy();
  assert.ok(replies !== null, "slow clients were disconnected");
  assert.ok(
    replies.every((r) => r === "" || /^HTTP\/1\.1 408 /.test(r)),
    JSON.stringify(replies[0]),
  );
});
