// A member of an h2c pool that sends GOAWAY(NO_ERROR) with shardgate's stream still open (a
// graceful close: the stream may finish), then a malformed frame (a PRIORITY frame making that
// stream depend on itself): nghttp2, on shardgate's side, answers with its own GOAWAY and stops,
// so the stream can never finish. The session had left the pool's list at the member's GOAWAY
// (no new streams go to it), and the dead-session sweep only asked the sessions on that list:
// the request waited for the pool's response timeout (30 s). Now every open session is asked,
// and the request fails within about a second. The member is a raw frame server: its first
// connection misbehaves so on its first stream, every other stream is answered 200.
// Fails on the old code: the answer took the response timeout, past this test's bound.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { frame } from "../support/h2-frames.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const PREFACE_LENGTH = 24;
/** GOAWAY(NO_ERROR) whose last-stream-id 1 keeps stream 1 alive. */
const GRACEFUL_GOAWAY = frame(7, 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]));
const SELF_DEPENDENT_PRIORITY = frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16]));
// HEADERS :status 200 (static table index 8), END_STREAM | END_HEADERS.
const OK = (stream: number): Buffer => frame(1, 0x5, stream, Buffer.from([0x88]));
/** Far below the pool's 30 s response timeout that bounded it before. */
const BOUND_MS = 10_000;

let connections = 0;
const sockets = new Set<Socket>();
const member = createServer((s) => {
  const misbehave = connections++ === 0;
  sockets.add(s);
  s.on("close", () => sockets.delete(s));
  s.on("error", () => {});
  s.write(frame(4, 0, 0));
  let buf = Buffer.alloc(0);
  let preface = false;
  s.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (!preface) {
      if (buf.length < PREFACE_LENGTH) return;
      buf = buf.subarray(PREFACE_LENGTH);
      preface = true;
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3];
      const stream = buf.readUInt32BE(5) & 0x7fffffff;
      if (type === 4 && (buf[4] & 1) === 0) s.write(frame(4, 1, 0));
      if (type === 1 && misbehave) {
        s.write(GRACEFUL_GOAWAY);
        setTimeout(() => s.write(SELF_DEPENDENT_PRIORITY), 200);
      } else if (type === 1) s.write(OK(stream));
      buf = buf.subarray(9 + len);
    }
  });
});

let sg: RunningShardgate;

before(async () => {
  await new Promise<void>((resolve) => member.listen(0, "127.0.0.1", resolve));
  const port = (member.address() as { port: number }).port;
  sg = await startShardgate(
    poolConfig({ members: [{ id: "m1", port }], accessLog: false, poolExtra: "    protocol: h2c" }),
  );
});

after(async () => {
  await stopAll();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => member.close(() => resolve()));
});

test("h2c member: GOAWAY(NO_ERROR), then a malformed frame: the stream left open fails at once, not after the response timeout", async () => {
  const t0 = performance.now();
  let status: number | string;
  try {
    const r = await fetch(`${sg.httpUrl}/first`, {
      method: "POST",
      body: "x",
      headers: { "x-user-id": "k" },
      signal: AbortSignal.timeout(scaled(BOUND_MS)),
    });
    await r.text();
    status = r.status;
  } catch (err) {
    status = String(err);
  }
  const ms = Math.round(performance.now() - t0);
  console.log(`answer: ${status} in ${ms} ms; member connections ${connections}`);
  assert.equal(status, 502, `the request on the dead session fails within the bound (${ms} ms)`);
  assert.equal(sg.proc.exit, undefined, `shardgate exited\n${sg.proc.output()}`);
});
