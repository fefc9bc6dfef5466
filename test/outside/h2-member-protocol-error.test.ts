// A member of an h2c pool that sends a malformed frame (a PRIORITY frame making stream 1 depend
// on itself): nghttp2, on shardgate's side, answers with GOAWAY(PROTOCOL_ERROR) and stops, and
// Node kept the session as if it were live. The request on it waited for the pool's response
// timeout (30 s), and so did every request that arrived meanwhile, put on the same session. Now
// the dead session is failed within about a second (h2-dead-session.ts): the stream ends 502, and
// the requests after it go to a new session and are served. The member here is a raw frame
// server: its first connection misbehaves on its first stream, every other stream is answered 200.
// Fails on the old code: the first answer took the response timeout, past this test's bound.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { frame } from "../support/h2-frames.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const PREFACE_LENGTH = 24;
const SELF_DEPENDENT_PRIORITY = frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16]));
// HEADERS :status 200 (static table index 8), END_STREAM | END_HEADERS.
const OK = (stream: number): Buffer => frame(1, 0x5, stream, Buffer.from([0x88]));

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
  let first = true;
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
      if (type === 1) s.write(misbehave && first ? SELF_DEPENDENT_PRIORITY : OK(stream));
      if (type === 1) first = false;
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

async function get(path: string): Promise<{ status: number | string; ms: number }> {
  const t0 = performance.now();
  try {
    const r = await fetch(`${sg.httpUrl}${path}`, {
      headers: { "x-user-id": "k" },
      signal: AbortSignal.timeout(scaled(10_000)),
    });
    await r.text();
    return { status: r.status, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { status: String(err), ms: Math.round(performance.now() - t0) };
  }
}

test("h2c member sending a malformed frame: its session is failed at once, not after the response timeout", async () => {
  const first = get("/first");
  // Arrives while the first request's session is dead: it used to be put on it too.
  await new Promise((r) => setTimeout(r, 200));
  const second = get("/second");
  const [a, b] = await Promise.all([first, second]);
  console.log(
    `first: ${a.status} in ${a.ms} ms; second: ${b.status} in ${b.ms} ms; member connections ${connections}`,
  );
  assert.equal(a.status, 502, `the request on the dead session fails within the bound (${a.ms} ms)`);
  assert.equal(b.status, 200, `the next request is served (${b.ms} ms)`);
  assert.equal(connections, 2, "one new session replaced the dead one");
  assert.equal(sg.proc.exit, undefined, `shardgate exited\n${sg.proc.output()}`);
});
