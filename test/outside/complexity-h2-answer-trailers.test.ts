// Memory and work far beyond an input's size, from an HTTP/2 member's side, in the answer's
// trailers: c90836b bounded an answer HEAD's decoded header list at 16 KiB (HPACK lets a member
// add one 4 KB field to the dynamic table and name it again with one byte per line, and nghttp2
// holds a member to our SETTINGS_MAX_HEADER_LIST_SIZE only once it ACKs our SETTINGS), but the
// trailer block after the body went through unchecked: a raw h2c member that never ACKs answers
// with a small head, a 2-byte body and a 4.4 KB trailer block that decodes to 400 KB (100 lines),
// and shardgate relayed all of it to the client as HTTP/1.1 trailers. Now a trailer block past
// the same limit fails the answer as a head past it does (the client's response is cut, never
// given the block; counted as the member's reset) and the session is kept for the next request.

import assert from "node:assert/strict";
import { request } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { frame } from "../support/h2-frames.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

/** Lines of the amplified trailer block: under Node's 128-pair cap, 25x the 16 KiB limit decoded. */
const COPIES = 100;

/** HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
function hpackInt(prefixBits: number, first: number, n: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (n < max) return Buffer.from([first | n]);
  const out = [first | max];
  let rest = n - max;
  while (rest >= 128) {
    out.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A trailer block: `x-big: A*4000` added to the dynamic table and named again by index 62. */
function amplifiedTrailers(copies: number): Buffer {
  const name = Buffer.from("x-big");
  const value = Buffer.from("A".repeat(4_000));
  return Buffer.concat([
    Buffer.from([0x40]),
    hpackInt(7, 0, name.length),
    name,
    hpackInt(7, 0, value.length),
    value,
    Buffer.alloc(copies - 1, 0xbe),
  ]);
}

/** :status 200 and `x-ok: 1` (literal without indexing). */
const SMALL_HEAD = Buffer.concat([
  Buffer.from([0x88, 0x00, 4]),
  Buffer.from("x-ok"),
  Buffer.from([1]),
  Buffer.from("1"),
]);

/**
 * A raw h2c member: sends its (empty) SETTINGS, never acknowledges shardgate's, answers every
 * stream with a small head and a 2-byte body; the first stream's answer ends with the amplified
 * trailer block, later ones end with the body.
 */
let member: Server;
let connections = 0;
let streamsSeen = 0;
const sockets = new Set<Socket>();
let sg: RunningShardgate;

before(async () => {
  member = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    let pending = Buffer.alloc(0);
    let preface = false;
    s.write(frame(4, 0, 0));
    s.on("data", (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      if (!preface) {
        if (pending.length < 24) return;
        pending = pending.subarray(24);
        preface = true;
      }
      while (pending.length >= 9) {
        const len = pending.readUIntBE(0, 3);
        if (pending.length < 9 + len) break;
        const type = pending[3];
        const stream = pending.readUInt32BE(5) & 0x7fffffff;
        pending = pending.subarray(9 + len);
        if (type !== 1) continue; // HEADERS opens a request; the rest is ignored
        if (streamsSeen++ === 0) {
          s.write(
            Buffer.concat([
              frame(1, 0x4, stream, SMALL_HEAD),
              frame(0, 0, stream, Buffer.from("ok")),
              // END_STREAM | END_HEADERS: the trailer block.
              frame(1, 0x5, stream, amplifiedTrailers(COPIES)),
            ]),
          );
        } else {
          s.write(
            Buffer.concat([frame(1, 0x4, stream, SMALL_HEAD), frame(0, 0x1, stream, Buffer.from("ok"))]),
          );
        }
      }
    });
  });
  await new Promise<void>((resolve) => member.listen(0, "127.0.0.1", resolve));
  const port = (member.address() as { port: number }).port;
  sg = await startShardgate(
    poolConfig({ members: [{ id: "m1", port }], accessLog: false, poolExtra: "    protocol: h2c\n" }),
  );
});

after(async () => {
  await stopAll();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => member.close(() => resolve()));
});

interface Got {
  status: number;
  /** Whether the answer ended whole (its last chunk and trailers read). */
  complete: boolean;
  trailerBytes: number;
  body: string;
}

/** One GET through shardgate (Node's client allows a 1 MB head and trailer section here). */
function get(): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${sg.httpUrl}/`,
      { headers: { "x-user-id": "k" }, agent: false, maxHeaderSize: 1 << 20 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("error", () => undefined); // a cut answer: seen through `complete` at close
        res.on("close", () =>
          resolve({
            status: res.statusCode ?? 0,
            complete: res.complete,
            trailerBytes: res.rawTrailers.reduce((n, s) => n + s.length, 0),
            body,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test(`an HPACK-amplified trailer block (${COPIES} x 4 KB from 4.4 KB) never reaches the client, is counted, and the session serves the next request`, async () => {
  assert.ok(amplifiedTrailers(COPIES).length < 4_500);
  const first = await get();
  assert.ok(
    first.trailerBytes < 16_384,
    `${first.trailerBytes} bytes of trailers reached the client (status ${first.status}, complete ${first.complete})`,
  );
  assert.equal(first.complete, false, "the answer is cut, not ended as whole without its trailers");
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  assert.equal(
    metricValue(metrics, "shardgate_upstream_errors_total", { pool: "users", member: "m1", kind: "reset" }),
    1,
    "counted as the member's reset",
  );
  const second = await get();
  assert.equal(second.status, 200, second.body);
  assert.equal(second.body, "ok");
  assert.equal(second.complete, true);
  assert.equal(connections, 1, "one session to the member: kept after the refused trailers");
});
