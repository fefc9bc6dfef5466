// Tried from the outside: an HTTP/2 client that sets SETTINGS_INITIAL_WINDOW_SIZE to 0, opens 100
// streams (listen.http2.maxConcurrentStreams) for 64 MiB answers on one connection and never
// opens a window: no DATA can ever go. A raw frame client against a real shardgate process and
// a real HTTP/1.1 upstream on loopback. What it costs the proxy is measured: RSS grew 15-27 MB
// for the 100 streams (150-280 KiB each: the answer chunk each stream holds past Node's high-water
// mark, the upstream socket and request), not the 6.4 GiB of answers, and every stream is reset
// CANCEL at listen.timeouts.send, its upstream request cancelled, as a slow HTTP/1.1 reader's
// connection is (slow-reader.test.ts). A guard: this held on the code it was tried on (the
// send timeout and flow control did it); it fails if a change lets answers pile up or the
// stalled streams live on.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as h2connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { type BytesUpstream, startBytesUpstream } from "../support/bytes-upstream.js";
import { readServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const SEND_MS = 3000;
const STREAMS = 100;
const ANSWER = 64 * 1024 * 1024;
/** RSS growth allowed for the 100 stalled streams (measured 15-27 MB; 6.4 GiB if answers piled up). */
const RSS_BOUND_KIB = 96 * 1024;
const NGHTTP2_CANCEL = 8;

let upstream: BytesUpstream;
let sg: RunningShardgate;
const sockets = new Set<Socket>();

before(async () => {
  upstream = await startBytesUpstream();
  const yaml = poolConfig({ members: [{ id: "m1", port: upstream.port }], accessLog: false }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 120s, send: ${SEND_MS}ms }\n` +
      // Off: all 100 streams held and the bystander (same address) served, as before
      // listen.maxUpstreamPerClient (its default 64 refuses 36 of them and the bystander:
      // slow-reader-share.test.ts); this test is about what held streams cost.
      "  maxUpstreamPerClient: 0\n",
  );
  sg = await startShardgate(yaml);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await upstream.close();
});

function rssKiB(): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${sg.proc.child.pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0);
}

function h2Get(path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const c = h2connect(sg.httpUrl);
    c.on("error", reject);
    const r = c.request({ ":path": path, "x-user-id": "bystander" });
    let bytes = 0;
    r.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    r.on("response", (h) => {
      r.on("end", () => {
        c.close();
        resolve({ status: Number(h[":status"]), bytes });
      });
    });
    r.on("error", reject);
    r.end();
  });
}

test("h2c: 100 streams at window 0 for 64 MiB answers: memory bounded, each reset CANCEL at the send timeout, upstream cancelled", {
  timeout: 180_000,
}, async () => {
  const port = Number(new URL(sg.httpUrl).port);
  const rss0 = rssKiB();
  const path = `/bytes/${ANSWER}`;
  const block = Buffer.concat([
    Buffer.from([0x82, 0x86]), // :method GET, :scheme http
    literal(":path", path),
    literal(":authority", "a"),
    literal("x-user-id", "stalled"),
  ]);
  const s = connect(port, "127.0.0.1");
  sockets.add(s);
  s.on("error", () => {});
  const server = readServerFrames(s);
  const out: Buffer[] = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")];
  // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0: no stream may be sent a byte until a WINDOW_UPDATE.
  out.push(frame(4, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0])));
  for (let i = 0; i < STREAMS; i++) out.push(frame(1, 0x5, 2 * i + 1, block));
  s.write(Buffer.concat(out));

  const started = () => upstream.served.filter((r) => r.path === path);
  await eventually("every stream's upstream request", () => (started().length >= STREAMS ? true : undefined));
  // The bystander on another connection is served while the 100 streams are held.
  const other = await h2Get("/bytes/1000");
  assert.deepEqual(other, { status: 200, bytes: 1000 });

  // Sample RSS until every stream was reset (bounded: the send timeout is 3 s).
  let peak = rssKiB();
  const deadline = Date.now() + scaled(60_000);
  while ((server.rst.get(NGHTTP2_CANCEL) ?? 0) < STREAMS && !server.isClosed && Date.now() < deadline) {
    peak = Math.max(peak, rssKiB());
    await new Promise((r) => setTimeout(r, 100));
  }
  const note = `rst ${JSON.stringify([...server.rst])}, headers ${server.headers}, data ${server.dataBytes}`;
  assert.equal(server.rst.get(NGHTTP2_CANCEL), STREAMS, `every stalled stream reset CANCEL: ${note}`);
  assert.equal(server.headers, STREAMS, `each answer's head went (HEADERS need no window): ${note}`);
  assert.equal(server.dataBytes, 0, note);
  assert.equal(server.isClosed, false, "the streams are reset, the connection lives on");
  assert.ok(peak - rss0 < RSS_BOUND_KIB, `RSS grew ${peak - rss0} KiB for ${STREAMS} stalled streams`);

  // Each upstream request is cancelled, none was read to its end.
  await eventually("every upstream request cancelled", () =>
    started().every((r) => r.abortedAt >= 0) ? true : undefined,
  );
  assert.equal(started().filter((r) => r.finished).length, 0);
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  assert.equal(
    metricValue(metrics, "shardgate_downstream_client_errors_total", { code: "client_send_timeout" }),
    STREAMS,
  );
  console.log(
    `zero window: ${STREAMS} streams x ${ANSWER / 1048576} MiB held, RSS +${Math.round((peak - rss0) / 1024)} MB ` +
      `(${((peak - rss0) / STREAMS).toFixed(0)} KiB a stream), all reset CANCEL after the ${SEND_MS} ms send timeout`,
  );
  s.destroy();
});
