// Memory and work far beyond an input's size over HTTP/2: HPACK lets a client add one 4 KB field
// to the dynamic table and then repeat it with one byte per line, and nghttp2 holds a client to
// SETTINGS_MAX_HEADER_LIST_SIZE (listen.maxHeaderSize, 16 KiB) only once it has acknowledged the
// server's SETTINGS. A raw h2c client that never sends the ACK had a 4.3 KB header block of 250
// such lines decoded to 1 MB, routed, and forwarded upstream whole. Now the stream is answered
// 431 `headers_too_large` and nothing reaches the member; a client that ACKs and sends a normal
// request is still served.

import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { amplifiedField, frame, literal } from "../support/h2-frames.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { waitFor } from "../support/wait.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** A member that counts the bytes it is sent and answers nothing: what reached it is what was forwarded. */
let upstream: Server;
let upstreamBytes = 0;
const upstreamSockets = new Set<Socket>();
let sg: RunningShardgate;

before(async () => {
  upstream = createServer((s) => {
    upstreamSockets.add(s);
    s.on("data", (d: Buffer) => {
      upstreamBytes += d.length;
    });
    s.on("close", () => upstreamSockets.delete(s));
    s.on("error", () => {});
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as { port: number }).port;
  sg = await startShardgate(poolConfig({ members: [{ id: "m1", port }], accessLog: false }));
});

after(async () => {
  await stopAll();
  for (const s of upstreamSockets) s.destroy();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

/**
 * GET / with the key, then `x-big: A*4000` added to the dynamic table (literal with incremental
 * indexing, new name) and named again `copies - 1` times by its index (62, one byte 0xbe each).
 */
function bombBlock(copies: number): Buffer {
  return Buffer.concat([
    Buffer.from([0x82, 0x86, 0x84]),
    literal(":authority", "a"),
    literal("x-user-id", "k"),
    amplifiedField(copies),
  ]);
}

interface Seen {
  frames: { type: number; flags: number; stream: number; payload: Buffer }[];
}

/** A raw h2c connection collecting the frames the listener sends. */
function rawClient(port: number): Promise<{ socket: Socket; seen: Seen }> {
  return new Promise((resolve, reject) => {
    const seen: Seen = { frames: [] };
    let pending = Buffer.alloc(0);
    const socket = connect(port, "127.0.0.1", () => resolve({ socket, seen }));
    socket.on("error", reject);
    socket.on("data", (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 9) {
        const len = pending.readUIntBE(0, 3);
        if (pending.length < 9 + len) break;
        seen.frames.push({
          type: pending[3],
          flags: pending[4],
          stream: pending.readUInt32BE(5) & 0x7fffffff,
          payload: pending.subarray(9, 9 + len),
        });
        pending = pending.subarray(9 + len);
      }
    });
  });
}

test("an HPACK-amplified header list from a client that never ACKs SETTINGS: 431 on the stream, nothing forwarded", async () => {
  const { socket, seen } = await rawClient(Number(new URL(sg.httpUrl).port));
  try {
    const block = bombBlock(250); // 1 MB decoded, 250 + 5 lines (under the 256-pair cap)
    assert.ok(block.length < 4_400, `${block.length} bytes on the wire`);
    // Our SETTINGS, then the request; the server's SETTINGS are never acknowledged.
    socket.write(Buffer.concat([PREFACE, frame(4, 0, 0), frame(1, 0x5, 1, block)]));
    const answered = () => seen.frames.some((f) => f.stream === 1 && (f.type === 1 || f.type === 3));
    await waitFor(
      () => answered() || upstreamBytes > 0,
      "the stream answered or reset, or bytes upstream",
      30_000,
    );
    assert.equal(upstreamBytes, 0, `${upstreamBytes} bytes reached the member`);
    const body = Buffer.concat(
      seen.frames.filter((f) => f.stream === 1 && f.type === 0).map((f) => f.payload),
    );
    const reset = seen.frames.find((f) => f.stream === 1 && f.type === 3);
    assert.ok(
      body.includes("headers_too_large") || reset !== undefined,
      `answered ${JSON.stringify(seen.frames.map((f) => [f.type, f.flags, f.stream]))}: ${body.toString()}`,
    );
  } finally {
    socket.destroy();
  }
});

test("a well-behaved h2c client (SETTINGS acknowledged) with a small header list is still forwarded", async () => {
  const { socket, seen } = await rawClient(Number(new URL(sg.httpUrl).port));
  try {
    socket.write(Buffer.concat([PREFACE, frame(4, 0, 0)]));
    await waitFor(
      () => seen.frames.some((f) => f.type === 4 && (f.flags & 1) === 0),
      "the server's SETTINGS",
      30_000,
    );
    const before = upstreamBytes;
    socket.write(Buffer.concat([frame(4, 1, 0), frame(1, 0x5, 3, bombBlock(2))]));
    await waitFor(() => upstreamBytes - before > 8_000, "the request at the member", 30_000);
  } finally {
    socket.destroy();
  }
});
