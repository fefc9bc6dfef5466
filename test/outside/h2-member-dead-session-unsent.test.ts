// A request put on a member session nghttp2 had already ended (it sent GOAWAY for the member's
// malformed frame, and until the dead-session sweep finds it, the session still looks live):
// its HEADERS never leave nghttp2's queue, so the member never saw it, and it is safe to send
// again whatever its method. The member here is a raw frame server whose first connection
// answers its first stream with a self-dependent PRIORITY frame and every later stream 200.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { frame } from "../support/h2-frames.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const PREFACE_LENGTH = 24;
const SELF_DEPENDENT_PRIORITY = frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16]));
// HEADERS :status 200 (static table index 8), END_STREAM | END_HEADERS.
const OK = (stream: number): Buffer => frame(1, 0x5, stream, Buffer.from([0x88]));

let connections = 0;
const seen: string[] = [];
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
      if (type === 1) {
        seen.push(`connection ${connections} stream ${stream}`);
        // Answered once its body ended (END_STREAM on HEADERS or on a DATA frame).
        if (misbehave && first) s.write(SELF_DEPENDENT_PRIORITY);
        else if ((buf[4] & 1) === 1) s.write(OK(stream));
        first = false;
      }
      if (type === 0 && (buf[4] & 1) === 1 && !(misbehave && stream === 1)) s.write(OK(stream));
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

async function send(path: string, method: string): Promise<{ status: number | string; ms: number }> {
  const t0 = performance.now();
  try {
    const r = await fetch(`${sg.httpUrl}${path}`, {
      method,
      headers: { "x-user-id": "k" },
      body: method === "POST" ? "payload" : undefined,
      signal: AbortSignal.timeout(scaled(10_000)),
    });
    await r.text();
    return { status: r.status, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { status: String(err), ms: Math.round(performance.now() - t0) };
  }
}

test("h2c member: a POST put on a session nghttp2 had ended, never sent, is sent again on a new session", async () => {
  const first = send("/first", "GET");
  await new Promise((r) => setTimeout(r, 200));
  const second = send("/second", "POST");
  const [a, b] = await Promise.all([first, second]);
  console.log(
    `first GET: ${a.status} in ${a.ms} ms; second POST: ${b.status} in ${b.ms} ms; member saw ${seen.join(", ")}`,
  );
  assert.equal(a.status, 502, "the request the member answered with garbage fails");
  assert.equal(b.status, 200, `the POST the member never saw is served (${b.ms} ms)`);
  // The member sent garbage once: one failure against it, not one per request put on the session.
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  const resets = metricValue(text, "shardgate_upstream_errors_total", {
    pool: "users",
    member: "m1",
    kind: "reset",
  });
  assert.equal(resets, 1, "one reset counted against the member");
  assert.equal(sg.proc.exit, undefined, `shardgate exited\n${sg.proc.output()}`);
});
