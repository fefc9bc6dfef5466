// The lingering close's byte bound on the proxy port, tried from the outside. After an answer
// sent while the client is still uploading (the upstream's early 413, shardgate's own 400 for a
// request without a key), the connection closes with a FIN and reads and drops what the client
// still sends, at most LINGERING_MAX_BYTES. The bound was checked every 500 ms, and a loopback
// client that keeps sending (half-open, so the FIN does not stop it) got well over 1 GB read in
// that time. Now the bytes are counted as they arrive: the client's whole flood (what the server
// read, plus what sat in the two kernels' socket buffers when it closed) stays under twice the
// bound. The proxy serves another client during each flood.

import assert from "node:assert/strict";
import { request } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { LINGERING_MAX_BYTES } from "../../proxy/server/linger-close.js";
import { endlessUpload } from "../support/endless-upload.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const SEED = testSeed(2026_1212);
const ENGINES = ["undici", "http-proxy"] as const;
/** The client reads once it has written this much. */
const READ_AFTER_BYTES = 8 * 1024 * 1024;
/** A bound on the flood itself, far past what the server may read. */
const CLIENT_MAX_BYTES = 8 * 1024 * 1024 * 1024;

/** Answers on the request head (status from the path, /413/ or /200/) and closes without reading the body. */
function earlyAnswerer(s: Socket): void {
  let head = "";
  s.on("error", () => {});
  s.on("data", (d) => {
    head += d.toString("latin1");
    if (!head.includes("\r\n\r\n")) return;
    s.removeAllListeners("data");
    s.pause();
    const status = /^\w+ \/(\d+)\//.exec(head)?.[1] ?? "200";
    s.end(`HTTP/1.1 ${status} X\r\ncontent-length: 5\r\nconnection: close\r\n\r\nearly`);
  });
}

let upstream: Server;
const running = new Map<string, RunningShardgate>();

before(async () => {
  upstream = createServer(earlyAnswerer);
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as { port: number }).port;
  for (const engine of ENGINES) {
    const sg = await startShardgate(
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { accessLog: false }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${port}" }]
    breaker: { consecutiveFailures: 100000, minRequests: 100000 }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
    onMissingKey: reject
`,
      { env: { SHARDGATE_ENGINE: engine } },
    );
    running.set(engine, sg);
  }
});

after(async () => {
  await stopAll();
  await new Promise<void>((r) => upstream.close(() => r()));
});

interface Case {
  what: string;
  path: string;
  key: boolean;
  chunked: boolean;
  status: number;
}

const CASES: Case[] = [
  { what: "upstream's early 413, content-length", path: "/413/a", key: true, chunked: false, status: 413 },
  { what: "upstream's early 413, chunked", path: "/413/b", key: true, chunked: true, status: 413 },
  {
    what: "shardgate's own 400 (no key), content-length",
    path: "/x/c",
    key: false,
    chunked: false,
    status: 400,
  },
];

function get200(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/200/during", headers: { "x-user-id": "k" }, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(scaled(30_000), () => req.destroy(new Error("GET /200/during: no answer")));
    req.on("error", reject);
    req.end();
  });
}

for (const engine of ENGINES) {
  test(`${engine}: a client flooding after an early answer is closed once the lingering byte bound is read`, {
    timeout: 600_000,
  }, async (t) => {
    const sg = running.get(engine);
    assert.ok(sg);
    const port = Number(new URL(sg.httpUrl).port);
    const random = seededRandom(SEED);
    const failures: string[] = [];
    for (const c of CASES) {
      const pieceBytes = 4096 + Math.floor(random() * 60 * 1024);
      const length = c.chunked ? "transfer-encoding: chunked" : `content-length: ${CLIENT_MAX_BYTES}`;
      const key = c.key ? "x-user-id: k\r\n" : "";
      let during: Promise<number> | undefined;
      const r = await endlessUpload({
        port,
        head: `POST ${c.path} HTTP/1.1\r\nHost: a\r\n${key}${length}\r\n\r\n`,
        chunked: c.chunked,
        pieceBytes,
        readAfterBytes: READ_AFTER_BYTES,
        maxBytes: CLIENT_MAX_BYTES,
        // linger-close.ts ends a lingering connection within 30 s whatever the byte count.
        giveUpMs: scaled(60_000),
        midway: () => {
          during = get200(port).catch(() => -1);
        },
      });
      const duringStatus = during === undefined ? "not asked" : await during;
      const what = `${c.what}, ${pieceBytes} B pieces: ${JSON.stringify(r.reply.slice(0, 30))}, ${r.sent} B sent, closed by ${r.closedBy} in ${r.ms} ms; GET during: ${duringStatus}`;
      t.diagnostic(what);
      if (!r.reply.startsWith(`HTTP/1.1 ${c.status} `)) failures.push(`no ${c.status}: ${what}`);
      if (!r.closedBy.startsWith("server")) failures.push(`not closed by the server: ${what}`);
      else if (r.sent >= 2 * LINGERING_MAX_BYTES)
        failures.push(`${r.sent} B sent before the close, over 2 x ${LINGERING_MAX_BYTES} B: ${what}`);
      if (duringStatus !== 200) failures.push(`proxy not serving during the flood: ${what}`);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${CASES.length} failed; ${seedNote(SEED)}`);
  });
}
