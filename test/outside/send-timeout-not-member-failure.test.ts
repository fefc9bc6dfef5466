// Tried from the outside: clients that stop reading their answer until listen.timeouts.send cuts
// it (client_send_timeout). A client too slow to read is the client's fault, not the member's
// (README "Who is slow": counts against the member: no), but the member's live figures (GET
// /admin/live, the dashboard's error ratio) counted each cut as the member's failure, as
// downstream_disconnected was counted before it was fixed (client-gone-not-member-failure.test.ts).
// (6 cuts in 10 requests: 0.6). Many such clients on a pool with a twitchy breaker: the breaker
// stays closed (it did before too: a record with an error code never reaches the breaker's
// status count, and the cancelled upstream request is not an upstream error), the member keeps
// serving, and its error ratio over the window stays 0. Both engines, a real shardgate process
// per engine, a real upstream, raw client sockets on loopback.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { type BytesUpstream, startBytesUpstream } from "../support/bytes-upstream.js";
import { liveOf, liveWindow } from "../support/live-figures.js";
import { ENGINES, type Engine } from "../support/per-engine.js";
import {
  eventually,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

/** Clients that stop reading (bounded); each is cut by the send timeout. */
const STALLED = 6;
/** Whole requests after them, so the window has requests to divide by. */
const WHOLE = 4;
const SEND_MS = 1500;
/** Far more than the kernel's socket buffers on loopback hold: the answer must stall. */
const BIG = 32 * 1024 * 1024;
/** Bounds a wait that ends as soon as shardgate acts; only a failure waits this long. */
const DEADLINE_MS = 45_000;

let upstream: BytesUpstream;
const running = new Map<Engine, RunningShardgate>();
const sockets = new Set<Socket>();

before(async () => {
  upstream = await startBytesUpstream();
  for (const engine of ENGINES) {
    // A breaker that opens on 3 failures in a row, or half of 5 requests; idle and keep-alive
    // far beyond the test, so only the send timeout cuts anything.
    const sg = await startShardgate(
      `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 120s, send: ${SEND_MS}ms }
log: { level: info, accessLog: true }
pools:
  users:
    members: [{ id: s1, address: "127.0.0.1:${upstream.port}" }]
    timeouts: { response: 120s }
    breaker: { consecutiveFailures: 3, failureRate: 0.5, minRequests: 5, openFor: 60s }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`,
      { env: { SHARDGATE_ENGINE: engine } },
    );
    running.set(engine, sg);
  }
});

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await upstream?.close();
});

async function whole(sg: RunningShardgate, path: string): Promise<void> {
  const res = await fetch(`${sg.httpUrl}${path}`, { headers: { "x-user-id": "k" } });
  const n = (await res.arrayBuffer()).byteLength;
  assert.equal(res.status, 200, path);
  assert.equal(n, 100, path);
}

/** GET /bytes/BIG on a raw socket that stops reading after the first bytes; resolves with them. */
function stalledClient(port: number, i: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", (d: Buffer) => {
      socket.pause();
      resolve(d.subarray(0, 12).toString("latin1"));
    });
    socket.once("close", () => reject(new Error("closed before any byte")));
    socket.write(`GET /bytes/${BIG}?c=${i} HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\n\r\n`);
  });
}

for (const engine of ENGINES) {
  test(`${engine}: clients cut by the send timeout are not the member's failures (error ratio 0, breaker closed, member serving)`, async () => {
    const sg = running.get(engine);
    assert.ok(sg !== undefined);
    const port = Number(new URL(sg.httpUrl).port);
    await whole(sg, "/bytes/100?first");
    await liveOf(sg.adminUrl);
    const heads = await Promise.all(Array.from({ length: STALLED }, (_, i) => stalledClient(port, i)));
    for (const h of heads) assert.match(h, /^HTTP\/1\.1 200/, JSON.stringify(h));
    await eventually(
      `${STALLED} client_send_timeout counted`,
      async () => {
        const t = await (await fetch(`${sg.adminUrl}/metrics`)).text();
        const n = metricValue(t, "shardgate_downstream_client_errors_total", { code: "client_send_timeout" });
        return n === STALLED ? true : undefined;
      },
      DEADLINE_MS,
    );
    for (const s of sockets) s.destroy();
    const lines = await eventually(`${STALLED} access lines`, () => {
      const l = sg.proc.lines.filter(
        (x) => x.type === "access" && String(x.path).startsWith(`/bytes/${BIG}`),
      );
      return l.length === STALLED ? l : undefined;
    });
    for (const l of lines) assert.equal(l.error, "client_send_timeout", JSON.stringify(l));
    for (let i = 0; i < WHOLE; i++) await whole(sg, `/bytes/100?after-${i}`);
    const live = await liveWindow(sg.adminUrl);
    const now = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    assert.equal(
      metricValue(now, "shardgate_breaker_state", { pool: "users", member: "s1" }) ?? 0,
      0,
      "breaker closed",
    );
    assert.equal(live.errorRate, 0, `the member's error ratio: ${JSON.stringify(live)}`);
    await whole(sg, "/bytes/100?still-serving");
  });
}
