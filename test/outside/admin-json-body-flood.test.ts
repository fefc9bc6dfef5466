// An admin endpoint that reads a JSON body (breaker, cluster membership), sent a body that never
// ends. Past admin.maxBodySize the server answers 413 with `Connection: close`; Node then
// destroyed the connection as soon as the answer was flushed, with the client's upload still
// arriving, so the kernel answered RST and a client that reads after writing (most upload code)
// lost its 413 to a reset. The same for a Content-Length declared over the cap. Now the 413 is
// followed by the lingering close (linger-close.ts): the server reads and drops a bounded
// allowance, then closes; the client gets its 413 and the connection ends within a bound whatever
// the client does. Tried from the outside on a real shardgate process; the admin port keeps
// serving other clients throughout.

import assert from "node:assert/strict";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { DRAIN_ALLOWANCE_BYTES } from "../../proxy/admin/overflow-close.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const SEED = testSeed(2026_1207);
const CAP = 64 * 1024;
const TOKEN = "flood-token-0123456789abcdef";
/** The client reads only once it has written this much (or its socket is closing). */
const READ_AFTER_BYTES = 8 * 1024 * 1024;
/** A bound on the flood itself: the server must close well before the client would stop. */
const CLIENT_MAX_BYTES = 4 * 1024 * 1024 * 1024;

/** More than loopback's send and receive buffers can hold between them (Linux: 4 + 6 MiB at most by default). */
const SOCKET_BUFFERS_BYTES = 64 * 1024 * 1024;

let sg: RunningShardgate;

before(async () => {
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { maxBodySize: ${CAP}, token: "${TOKEN}" }
log: { accessLog: false }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:9" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`);
});

after(async () => {
  await stopAll();
});

interface FloodResult {
  reply: string;
  sent: number;
  ms: number;
  closedBy: string;
}

/**
 * POSTs `path` with a body that does not end (chunked, or a huge Content-Length), writing as fast
 * as the connection takes it with its read side paused until READ_AFTER_BYTES are written.
 * Resolves once the connection is closed, or after `giveUpMs` (closedBy "client gave up").
 */
function flood(
  port: number,
  path: string,
  chunked: boolean,
  chunkBytes: number,
  giveUpMs: number,
): Promise<FloodResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    // allowHalfOpen: the server's FIN (after its answer) does not end this side; it keeps sending.
    const s: Socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    s.pause();
    let reply = "";
    let sent = 0;
    let closedBy = "server";
    const giveUp = setTimeout(() => {
      closedBy = "client gave up";
      s.destroy();
    }, giveUpMs);
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (closedBy === "server") closedBy = `server (${e.code ?? e.message})`;
      s.resume();
    });
    s.on("data", (d: Buffer) => {
      reply += d.toString("latin1");
    });
    s.on("end", () => {
      s.resume();
    });
    s.on("close", () => {
      clearTimeout(giveUp);
      resolve({ reply, sent, ms: Date.now() - started, closedBy });
    });
    const head = chunked ? "transfer-encoding: chunked" : `content-length: ${CLIENT_MAX_BYTES}`;
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: a\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\n${head}\r\n\r\n`,
    );
    const data = Buffer.alloc(chunkBytes, 0x61);
    const piece = chunked
      ? Buffer.concat([Buffer.from(`${chunkBytes.toString(16)}\r\n`), data, Buffer.from("\r\n")])
      : data;
    const pump = (): void => {
      while (!s.destroyed && sent < CLIENT_MAX_BYTES) {
        sent += piece.length;
        if (sent >= READ_AFTER_BYTES) s.resume();
        if (!s.write(piece)) return;
      }
    };
    s.on("drain", pump);
    pump();
  });
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/healthz", agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(scaled(30_000), () => req.destroy(new Error("/healthz: no answer")));
    req.on("error", reject);
    req.end();
  });
}

const CASES = [
  { path: "/admin/pools/users/members/m1/breaker", chunked: true },
  { path: "/admin/cluster/transfer", chunked: true },
  { path: "/admin/pools/users/members/m1/breaker", chunked: false },
] as const;

test("a JSON admin endpoint sent a body that never ends answers 413 and closes within a bound", {
  timeout: 300_000,
}, async (t) => {
  const port = Number(new URL(sg.adminUrl).port);
  const random = seededRandom(SEED);
  // linger-close.ts's bounds: 30 s after the answer at most (64 MiB read closes it sooner).
  const bound = scaled(90_000);
  const failures: string[] = [];
  for (const c of CASES) {
    const chunkBytes = 4096 + Math.floor(random() * 60 * 1024);
    const flooding = flood(port, c.path, c.chunked, chunkBytes, bound);
    // Others are served while the flood goes on, and after it.
    const during = await healthz(port);
    const r = await flooding;
    const after = await healthz(port);
    const what = `${c.chunked ? "chunked" : "content-length"} ${c.path} (${chunkBytes} B pieces): ${JSON.stringify(r.reply.slice(0, 60))} after ${r.sent} B sent, closed by ${r.closedBy} in ${r.ms} ms; /healthz ${during} during, ${after} after`;
    t.diagnostic(what);
    if (!r.reply.startsWith("HTTP/1.1 413 ") || !r.reply.includes('"error":"body_too_large"'))
      failures.push(`no 413: ${what}`);
    if (!r.closedBy.startsWith("server")) failures.push(`still open after ${bound} ms: ${what}`);
    // What the server read past the cap is at most the allowance; the rest of what the client
    // wrote sat in the two kernels' socket buffers (a few MiB on loopback).
    if (r.sent > DRAIN_ALLOWANCE_BYTES + SOCKET_BUFFERS_BYTES)
      failures.push(`over the drain allowance (${DRAIN_ALLOWANCE_BYTES} B read at most): ${what}`);
    if (during !== 200 || after !== 200) failures.push(`admin port not serving: ${what}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${CASES.length} failed; ${seedNote(SEED)}`);
});
