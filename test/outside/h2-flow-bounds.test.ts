// Tried from the outside: slow parties on both sides of an h2c pool (`protocol: h2c`), real
// shardgate process, node:http2 and raw-socket clients, node:http2 upstream, loopback.
//   - a gRPC-shaped call whose client never reads while the member streams 64 MiB as fast as
//     its window allows (h2c client; and an HTTP/1.1 client on the same pool);
//   - a client uploading 64 MiB as fast as it may to a member that reads nothing (h2c and
//     HTTP/1.1 clients).
// The bound held in each case (kept as guards; nothing here failed): flow control reaches the
// fast party, which gets no further than PUSH_BOUND bytes (kernel buffers and stream windows:
// 0.1-0.2 MiB over h2c, ~4 MiB over HTTP/1.1 measured), shardgate's RSS grows by less than
// RSS_BOUND_KIB, and once the slow party moves again every byte arrives.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as h2Connect } from "node:http2";
import { connect as tcpConnect } from "node:net";
import { after, before, test } from "node:test";
import { startH2cFixture } from "../support/h2-fixture.js";
import type { FlowUpstream } from "../support/h2-flow-upstream.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const TOTAL = 64 * 1024 * 1024;
/** What the fast party may get through to a slow one: a quarter of what it has to send. */
const PUSH_BOUND = 16 * 1024 * 1024;
/** shardgate's RSS growth allowed while a party is held (64 MiB pushed at it). */
const RSS_BOUND_KIB = 48 * 1024;
/** The fast party is held once its count stayed put this long. */
const STILL_MS = 1500;

let up: FlowUpstream;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  // No timeout may end the held calls: only flow control holds them.
  ({ up, sg } = await startH2cFixture({ request: "120s" }));
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await up.close();
});

function rssKiB(): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${sg.proc.child.pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0);
}

/**
 * Waits until `count` stops moving for STILL_MS (the fast party is held), failing at once if it
 * passes PUSH_BOUND; bounded by 60 s (scaled). Then checks shardgate's RSS growth since `rss0`.
 */
async function heldBelowBound(what: string, count: () => number, rss0: number): Promise<void> {
  const deadline = Date.now() + scaled(60_000);
  let last = -1;
  let since = Date.now();
  for (;;) {
    const n = count();
    assert.ok(
      n <= PUSH_BOUND,
      `${what}: ${n} bytes went through to a party taking none (bound ${PUSH_BOUND})`,
    );
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (n > 0 && Date.now() - since >= STILL_MS) break;
    assert.ok(Date.now() < deadline, `${what}: never held (${n} bytes and moving)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const grown = rssKiB() - rss0;
  assert.ok(grown < RSS_BOUND_KIB, `${what}: shardgate's RSS grew ${grown} KiB while holding ${last} bytes`);
}

test("h2c client never reading a 64 MiB gRPC stream: the member is held by flow control; then every byte arrives", async () => {
  const rss0 = rssKiB();
  const session = h2Connect(sg.httpUrl);
  session.on("error", () => {});
  try {
    const path = `/firehose/${TOTAL}`;
    const st = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "x-user-id": "h2-reader",
    });
    st.pause();
    st.on("error", () => {});
    st.end(Buffer.from([0, 0, 0, 0, 0]));
    const before = up.streams.length;
    await heldBelowBound("h2c slow reader", () => up.streams[before]?.pushed ?? 0, rss0);
    let got = 0;
    st.on("data", (c: Buffer) => {
      got += c.length;
    });
    const ended = new Promise<void>((r) => st.once("end", () => r()));
    st.resume();
    await ended;
    assert.equal(got, TOTAL);
  } finally {
    session.destroy();
  }
});

test("HTTP/1.1 client never reading a 64 MiB answer from an h2c member: held by flow control; then every byte arrives", async () => {
  const rss0 = rssKiB();
  const sock = tcpConnect(port, "127.0.0.1");
  sock.on("error", () => {});
  try {
    sock.pause();
    const before = up.streams.length;
    sock.write(
      `GET /firehose/${TOTAL} HTTP/1.1\r\nhost: t\r\nx-user-id: h1-reader\r\nconnection: close\r\n\r\n`,
    );
    await heldBelowBound("HTTP/1.1 slow reader", () => up.streams[before]?.pushed ?? 0, rss0);
    let got = 0;
    const closed = new Promise<void>((r) => sock.once("close", () => r()));
    sock.on("data", (c: Buffer) => {
      got += c.length;
    });
    sock.resume();
    await closed;
    // The head, then the body (chunked: a few bytes of framing per chunk).
    assert.ok(got > TOTAL && got < TOTAL + 1024 * 1024, `received ${got} bytes for a ${TOTAL}-byte body`);
    assert.equal(up.streams[before].pushed, TOTAL);
  } finally {
    sock.destroy();
  }
});

test("h2c client uploading 64 MiB to a member reading none: held by flow control; then the member gets all of it", async () => {
  const rss0 = rssKiB();
  const session = h2Connect(sg.httpUrl);
  session.on("error", () => {});
  try {
    const st = session.request({
      ":method": "POST",
      ":path": "/sink",
      "content-type": "application/grpc",
      te: "trailers",
      "x-user-id": "h2-writer",
    });
    st.on("error", () => {});
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const pump = (): void => {
      while (written < TOTAL) {
        written += chunk.length;
        if (written >= TOTAL) {
          st.end(chunk);
          return;
        }
        if (!st.write(chunk)) {
          st.once("drain", pump);
          return;
        }
      }
    };
    pump();
    // What the session took off the client: written minus what it still buffers itself.
    await heldBelowBound("h2c fast uploader", () => written - st.writableLength, rss0);
    const answer = new Promise<string>((resolve) => {
      let text = "";
      st.on("data", (c: Buffer) => {
        text += c.toString();
      });
      st.on("end", () => resolve(text));
    });
    up.release();
    assert.equal(await answer, String(TOTAL));
  } finally {
    session.destroy();
  }
});

test("HTTP/1.1 client uploading 64 MiB to an h2c member reading none: held; then the member gets all of it", async () => {
  const rss0 = rssKiB();
  const sock = tcpConnect(port, "127.0.0.1");
  sock.on("error", () => {});
  try {
    sock.write(
      `POST /sink HTTP/1.1\r\nhost: t\r\nx-user-id: h1-writer\r\ncontent-length: ${TOTAL}\r\nconnection: close\r\n\r\n`,
    );
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x63);
    const pump = (): void => {
      while (written < TOTAL) {
        written += chunk.length;
        if (!sock.write(chunk)) {
          sock.once("drain", pump);
          return;
        }
      }
    };
    pump();
    await heldBelowBound("HTTP/1.1 fast uploader", () => written - sock.writableLength, rss0);
    let reply = "";
    sock.on("data", (c: Buffer) => {
      reply += c.toString();
    });
    const closed = new Promise<void>((r) => sock.once("close", () => r()));
    up.release();
    await closed;
    assert.match(reply, /^HTTP\/1\.1 200 /);
    // The member's body (its byte count), chunked on the way back.
    assert.match(reply, new RegExp(`\r\n${TOTAL}\r\n0\r\n\r\n$`), `member's answer: ${reply.slice(-40)}`);
  } finally {
    sock.destroy();
  }
});
