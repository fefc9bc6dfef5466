// Tried from the outside: a client that stops reading a big answer kept its connection, the
// upstream request and its socket for as long as it liked (an 8 MiB answer to a client that
// barely read, listen idle 2s: still open after 30 s). Now listen.timeouts.send
// (proxy/server/send-timeout.ts, README "Security"): an answer none of whose bytes the client
// took for that long is cut (HTTP/1.1: the connection; HTTP/2: the stream, RST_STREAM CANCEL),
// the upstream request is cancelled, the access line says client_send_timeout and the
// downstream client errors metric counts it. A client reading slowly but steadily keeps its
// connection. Real shardgate process, real upstream and client sockets on loopback.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as h2Connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type BytesServed, type BytesUpstream, startBytesUpstream } from "../support/bytes-upstream.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const SEND_MS = 5000;
const BIG = 32 * 1024 * 1024;
const H2_BIG = BIG + 1;
const STEADY = 24 * 1024 * 1024;
/** The steady reader takes this much, then pauses STEADY_PAUSE_MS (~2.5 MiB/s). */
const STEADY_READ = 256 * 1024;
const STEADY_PAUSE_MS = 100;

let upstream: BytesUpstream;
let served: BytesServed[] = [];
const sockets = new Set<Socket>();
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstream = await startBytesUpstream();
  served = upstream.served;
  const up = upstream.port;
  // Idle and keep-alive far beyond the test: only the send timeout can cut anything here.
  const yaml = poolConfig({ members: [{ id: "m1", port: up }], accessLog: true }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 120s, send: ${SEND_MS}ms }\n`,
  );
  sg = await startShardgate(yaml);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await upstream.close();
});

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0);
}

/** Sends GET `path` on a raw socket and stops reading once the first bytes arrived. */
function stalledClient(path: string): Promise<{ socket: Socket; first: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", (first: Buffer) => {
      socket.pause();
      resolve({ socket, first });
    });
    socket.once("close", () => reject(new Error("closed before any byte")));
    socket.write(`GET ${path} HTTP/1.1\r\nhost: t\r\nx-user-id: slow\r\n\r\n`);
  });
}

/** Resumes `socket` and reads to its end: how many bytes came in all. */
function drain(socket: Socket, already: number): Promise<number> {
  return new Promise((resolve) => {
    let n = already;
    socket.on("data", (d: Buffer) => {
      n += d.length;
    });
    socket.on("close", () => resolve(n));
    socket.resume();
  });
}

test("HTTP/1.1: a client that stops reading a 32 MiB answer is cut after ~send; upstream aborted; others served", async () => {
  const pid = sg.proc.child.pid ?? 0;
  const rssBefore = rssKiB(pid);
  const t0 = performance.now();
  const { socket, first } = await stalledClient(`/bytes/${BIG}`);
  const rec = await eventually("the upstream request", () => served.find((s) => s.path === `/bytes/${BIG}`));

  // Meanwhile another client is served in full.
  const other = await fetch(`${sg.httpUrl}/bytes/1000`, { headers: { "x-user-id": "other" } });
  assert.equal(other.status, 200);
  assert.equal((await other.arrayBuffer()).byteLength, 1000);

  // The upstream sees its request cut: the send timeout, not the 120 s idle one.
  await eventually("the upstream request aborted", () => (rec.abortedAt >= 0 ? true : undefined), 45_000);
  const cutAfter = rec.abortedAt - t0;
  assert.ok(
    cutAfter >= SEND_MS,
    `cut after ${cutAfter.toFixed(0)} ms, before the ${SEND_MS} ms send timeout`,
  );
  assert.ok(cutAfter < 40_000, `cut after ${cutAfter.toFixed(0)} ms`);
  const rssDuring = rssKiB(pid);
  // The answer was never held in memory: far less than its 32 MiB was ever buffered.
  assert.ok(
    rssDuring - rssBefore < 24 * 1024,
    `RSS grew ${rssDuring - rssBefore} KiB (before ${rssBefore} KiB)`,
  );

  // The connection was closed by shardgate: reading on gets a truncated answer, then the end.
  const got = await drain(socket, first.length);
  assert.ok(got < BIG, `received ${got} bytes of ${BIG}`);

  const line = await eventually("the access line", () =>
    sg.proc.lines.find((l) => l.type === "access" && l.path === `/bytes/${BIG}`),
  );
  assert.equal(line.error, "client_send_timeout");
  assert.equal(line.status, 200, "the status the client was sent");
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  assert.ok(
    (metricValue(metrics, "shardgate_downstream_client_errors_total", { code: "client_send_timeout" }) ??
      0) >= 1,
    "client_send_timeout counted",
  );
});

// The steady reader takes ~10 s, mostly waiting on its own pauses; the h2c stream's wait for its
// send timeout runs beside it (a stalled stream moves no bytes, so it takes nothing from the
// reader's pace). The HTTP/1.1 stall above runs alone: it measures the process's RSS, which a
// concurrent 24 MiB transfer would blur.
describe("a steady reader and a stalled h2c stream, side by side", { concurrency: true }, () => {
  test("HTTP/1.1: a client reading slowly but steadily keeps its connection and gets every byte", async () => {
    // 256 KiB, then a 100 ms pause (at most ~2.5 MiB/s): the 24 MiB answer takes the reader
    // ~10 s and shardgate ~7.6 s (its access line's duration, at load ~10: the last ~5 MiB wait
    // in the kernel's buffers), one and a half send timeouts, so a bound on the whole answer
    // rather than on its stalls would still cut it (the first version sent 48 MiB, ~19 s, which
    // proved no more). The answer outgrows the kernel's socket buffers, so shardgate's writes
    // queue and wait on each window the reader opens. The sender can only see progress when the
    // kernel says its socket is writable again, which Linux does once a third of the send buffer
    // is free (up to 4 MiB here, tcp_wmem): ~1.3 MiB. A reader slower than that per send timeout
    // is, from the sender's side, one that took nothing (nginx's send_timeout sees the same).
    // The first version read 64 KiB per 200 ms (320 KiB/s): ~4 s between writability wake-ups,
    // so a loaded machine's late timers pushed it past the 5 s timeout and a steady reader was
    // cut in CI.
    // (1 KiB per 100 ms would not do over loopback either: TCP reopens a closed window about one
    // segment at a time, so such a reader leaves the sender stalled for seconds on zero-window
    // probes; and any answer it could read within a test fits in the kernel's buffers.)
    const socket = connect(port, "127.0.0.1");
    sockets.add(socket);
    socket.on("error", () => {});
    let raw = 0;
    let sinceBreak = 0;
    let head = "";
    let closed = false;
    // The longest wait for bytes while the reader was reading (for the failure message: on a
    // loaded machine TCP's window reopening can hold the sender for seconds at a time).
    let lastData = performance.now();
    let longestGap = 0;
    const t0 = performance.now();
    socket.on("close", () => {
      closed = true;
    });
    socket.on("data", (d: Buffer) => {
      if (raw === 0 && head === "") head = d.subarray(0, 12).toString("latin1");
      const now = performance.now();
      longestGap = Math.max(longestGap, now - lastData);
      lastData = now;
      raw += d.length;
      sinceBreak += d.length;
      if (sinceBreak >= STEADY_READ) {
        sinceBreak = 0;
        socket.pause();
        setTimeout(() => {
          lastData = performance.now();
          socket.resume();
        }, STEADY_PAUSE_MS);
      }
    });
    socket.write(
      `GET /bytes/${STEADY} HTTP/1.1\r\nhost: t\r\nx-user-id: steady\r\nconnection: close\r\n\r\n`,
    );
    // Slow on a loaded machine (nominally 10 s), so waited on generously; a cut ends the wait.
    await eventually(
      "the whole answer or the connection's end",
      () => (raw > STEADY || closed ? true : undefined),
      200_000,
    );
    const cut = sg.proc.lines.find((l) => l.type === "access" && l.path === `/bytes/${STEADY}`);
    assert.ok(
      raw > STEADY,
      `received ${raw} of ${STEADY} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s (closed: ${closed}, ` +
        `longest wait for bytes ${longestGap.toFixed(0)} ms, access error ${String(cut?.error)})`,
    );
    assert.match(head, /^HTTP\/1\.1 200/);
    const rec = served.find((s) => s.path === `/bytes/${STEADY}`);
    assert.ok(rec?.finished === true && rec.abortedAt < 0, `the upstream answered in full (${raw} bytes in)`);
    const line = await eventually("the access line", () =>
      sg.proc.lines.find((l) => l.type === "access" && l.path === `/bytes/${STEADY}`),
    );
    assert.equal(line.error, null, "not cut");
    // Head + every byte of the body, nothing cut short.
    assert.ok(raw > STEADY && raw < STEADY + 1024, `received ${raw} bytes for an ${STEADY}-byte body`);
  });

  test("h2c: a stream whose client stops reading is reset after ~send; the session serves another stream", async () => {
    const session = h2Connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    try {
      const t0 = performance.now();
      const stalled = session.request({ ":path": `/bytes/${H2_BIG}`, "x-user-id": "h2slow" });
      const code = new Promise<number>((resolve) =>
        stalled.on("close", () => resolve(stalled.rstCode ?? -1)),
      );
      stalled.on("error", () => {});
      await new Promise<void>((r) => stalled.once("response", () => r()));
      stalled.pause();
      const rec = await eventually("the upstream request", () =>
        served.find((s) => s.path === `/bytes/${H2_BIG}`),
      );
      // The same session serves another stream meanwhile.
      const small = session.request({ ":path": "/bytes/2000", "x-user-id": "h2other" });
      let n = 0;
      small.on("data", (d: Buffer) => {
        n += d.length;
      });
      await new Promise<void>((r) => small.on("end", () => r()));
      assert.equal(n, 2000);
      await eventually("the upstream request aborted", () => (rec.abortedAt >= 0 ? true : undefined), 45_000);
      assert.ok(rec.abortedAt - t0 >= SEND_MS, `cut after ${(rec.abortedAt - t0).toFixed(0)} ms`);
      stalled.resume();
      assert.equal(await code, 8, "RST_STREAM CANCEL");
      const line = await eventually("the access line", () =>
        sg.proc.lines.find((l) => l.type === "access" && l.path === `/bytes/${H2_BIG}`),
      );
      assert.equal(line.error, "client_send_timeout");
    } finally {
      session.destroy();
    }
  });
});
