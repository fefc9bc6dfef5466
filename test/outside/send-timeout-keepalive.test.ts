// listen.timeouts.send watches an HTTP/1.1 connection from its first request to its close
// (proxy/server/send-timeout.ts: one record per connection, nothing per request). Tried from the
// outside on one keep-alive connection: an answer read in full, then the connection idle for
// several send timeouts (idle is not stalled: it still serves), then an answer the client stops
// reading on that same connection is cut after ~send with client_send_timeout in its access
// line. Real shardgate process, real upstream and client socket on loopback.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { type BytesUpstream, startBytesUpstream } from "../support/bytes-upstream.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const SEND_MS = 1500;
const BIG = 32 * 1024 * 1024;

let upstream: BytesUpstream;
let sg: RunningShardgate;
let socket: Socket | null = null;

before(async () => {
  upstream = await startBytesUpstream();
  const up = upstream.port;
  const yaml = poolConfig({ members: [{ id: "m1", port: up }], accessLog: true }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 120s, send: ${SEND_MS}ms }\n`,
  );
  sg = await startShardgate(yaml);
});

after(async () => {
  socket?.destroy();
  await stopAll();
  await upstream.close();
});

/** Reads one whole answer with a Content-Length from `s` (bytes already read passed in `buffered`). */
function readAnswer(s: Socket, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = got.subarray(0, end).toString("latin1");
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? -1);
      if (got.length < end + 4 + length) return;
      s.off("data", onData);
      s.off("close", onClose);
      resolve(head);
    };
    const onClose = (): void => reject(new Error(`${what}: connection closed after ${got.length} bytes`));
    s.on("data", onData);
    s.once("close", onClose);
  });
}

test("HTTP/1.1 keep-alive: idle between answers is not stalled; a later answer the client stops reading is cut", async () => {
  const port = Number(new URL(sg.httpUrl).port);
  const s = connect(port, "127.0.0.1");
  socket = s;
  s.on("error", () => {});
  let closed = false;
  s.on("close", () => {
    closed = true;
  });
  await new Promise<void>((resolve) => s.once("connect", () => resolve()));

  s.write("GET /bytes/1000 HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\n\r\n");
  assert.match(await readAnswer(s, "first answer"), /^HTTP\/1\.1 200 /);

  // Idle for three send timeouts (each look finds nothing being written): the connection stays.
  await new Promise((r) => setTimeout(r, 3 * SEND_MS));
  assert.equal(closed, false, "an idle keep-alive connection is not a stalled answer");
  s.write("GET /bytes/2000 HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\n\r\n");
  assert.match(await readAnswer(s, "second answer, after the idle time"), /^HTTP\/1\.1 200 /);

  // The third answer on the same connection: the client takes its first bytes, then stops.
  const t0 = performance.now();
  const first = new Promise<void>((resolve) =>
    s.once("data", () => {
      s.pause();
      resolve();
    }),
  );
  s.write(`GET /bytes/${BIG} HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\n\r\n`);
  await first;
  const big = await eventually(
    "the stalled answer's upstream request aborted",
    () => upstream.served.find((s) => s.path === `/bytes/${BIG}` && s.abortedAt >= 0),
    60_000,
  );
  const cutAfter = big.abortedAt - t0;
  assert.ok(
    cutAfter >= SEND_MS,
    `cut after ${cutAfter.toFixed(0)} ms, before the ${SEND_MS} ms send timeout`,
  );
  s.resume();
  await eventually("the connection closed by shardgate", () => (closed ? true : undefined), 30_000);
  const line = await eventually("the access line", () =>
    sg.proc.lines.find((l) => l.type === "access" && l.path === `/bytes/${BIG}`),
  );
  assert.equal(line.error, "client_send_timeout");
  const earlier = sg.proc.lines.filter(
    (l) => l.type === "access" && (l.path === "/bytes/1000" || l.path === "/bytes/2000"),
  );
  assert.deepEqual(
    earlier.map((l) => [l.path, l.status, l.error]),
    [
      ["/bytes/1000", 200, null],
      ["/bytes/2000", 200, null],
    ],
  );
});
