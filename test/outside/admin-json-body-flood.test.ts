// Admin endpoints that read a JSON body (breaker, cluster membership, cache purge), sent a
// body that never ends. Two faults, both seen from the outside on a real shardgate:
// - Past admin.maxBodySize the server answers 413 with `Connection: close`; Node then destroyed
//   the connection as soon as the answer was flushed, with the client's upload still arriving,
//   so the kernel answered RST and a client that reads after writing lost its 413 to a reset
//   (the same for a Content-Length declared over the cap).
// - Refused before the body was read (401 without the token, 405 for a GET), the body was
//   resumed without a bound: the connection stayed open and read for as long as the client
//   sent (2 GB in 20 s).
// Now every such body is dropped up to the cap, then the connection closes after its answer with
// the lingering close (overflow-close.ts): at most DRAIN_ALLOWANCE_BYTES more are read. Each
// client gets its answer and is closed by the server within a bound, and the admin port keeps
// serving others meanwhile. The clients are half-open, so the server's FIN does not stop them.

import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { DRAIN_ALLOWANCE_BYTES } from "../../proxy/admin/overflow-close.js";
import { endlessUpload } from "../support/endless-upload.js";
import { USERS_DEAD_MEMBER_POOL } from "../support/minimal-config.js";
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
/** More than loopback's send and receive buffers hold between them (Linux: 4 + 32 MiB at most). */
const SOCKET_BUFFERS_BYTES = 64 * 1024 * 1024;

let sg: RunningShardgate;

before(async () => {
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { maxBodySize: ${CAP}, token: "${TOKEN}" }
log: { accessLog: false }
${USERS_DEAD_MEMBER_POOL}`);
});

after(async () => {
  await stopAll();
});

interface FloodCase {
  method: "POST" | "GET";
  path: string;
  chunked: boolean;
  token: boolean;
  /** The answer's status line and error code. */
  status: number;
  error: string;
}

const CASES: FloodCase[] = [
  // Past the cap while reading the JSON body: 413.
  {
    method: "POST",
    path: "/admin/pools/users/members/m1/breaker",
    chunked: true,
    token: true,
    status: 413,
    error: "body_too_large",
  },
  {
    method: "POST",
    path: "/admin/cluster/transfer",
    chunked: true,
    token: true,
    status: 413,
    error: "body_too_large",
  },
  {
    method: "POST",
    path: "/admin/pools/users/members/m1/breaker",
    chunked: false,
    token: true,
    status: 413,
    error: "body_too_large",
  },
  // Refused before the body is read.
  {
    method: "POST",
    path: "/admin/pools/users/members/m1/breaker",
    chunked: true,
    token: false,
    status: 401,
    error: "unauthorized",
  },
  {
    method: "POST",
    path: "/admin/cluster/transfer",
    chunked: true,
    token: false,
    status: 401,
    error: "unauthorized",
  },
  {
    method: "POST",
    path: "/admin/cache/purge",
    chunked: true,
    token: false,
    status: 401,
    error: "unauthorized",
  },
  {
    method: "GET",
    path: "/admin/cache/purge",
    chunked: true,
    token: true,
    status: 405,
    error: "method_not_allowed",
  },
];

const name = (c: FloodCase): string =>
  `${c.method} ${c.path} (${c.chunked ? "chunked" : "content-length"}, ${c.token ? "token" : "no token"})`;

/** Sends `c` with a body that does not end (chunked, or a huge Content-Length); resolves once closed. */
function flood(port: number, c: FloodCase, chunkBytes: number, giveUpMs: number, midway: () => void) {
  const length = c.chunked ? "transfer-encoding: chunked" : `content-length: ${CLIENT_MAX_BYTES}`;
  const auth = c.token ? `authorization: Bearer ${TOKEN}\r\n` : "";
  return endlessUpload({
    port,
    head: `${c.method} ${c.path} HTTP/1.1\r\nHost: a\r\n${auth}content-type: application/json\r\n${length}\r\n\r\n`,
    chunked: c.chunked,
    pieceBytes: chunkBytes,
    readAfterBytes: READ_AFTER_BYTES,
    maxBytes: CLIENT_MAX_BYTES,
    giveUpMs,
    midway,
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

test("admin JSON endpoints sent a body that never ends answer, then close within a bound", {
  timeout: 600_000,
}, async (t) => {
  const port = Number(new URL(sg.adminUrl).port);
  const random = seededRandom(SEED);
  // linger-close.ts's bounds: 30 s after the answer at most (the allowance closes it sooner).
  const bound = scaled(60_000);
  const failures: string[] = [];
  for (const c of CASES) {
    const chunkBytes = 4096 + Math.floor(random() * 60 * 1024);
    // Another client is served while the flood is going on, and after it.
    let during: Promise<number> | undefined;
    const r = await flood(port, c, chunkBytes, bound, () => {
      during = healthz(port);
    });
    const duringStatus = during === undefined ? "not asked (closed before midway)" : await during;
    const afterStatus = await healthz(port);
    const what = `${name(c)}, ${chunkBytes} B pieces: ${JSON.stringify(r.reply.slice(0, 40))} after ${r.sent} B sent, closed by ${r.closedBy} in ${r.ms} ms; /healthz ${duringStatus} during, ${afterStatus} after`;
    t.diagnostic(what);
    if (!r.reply.startsWith(`HTTP/1.1 ${c.status} `) || !r.reply.includes(`"error":"${c.error}"`))
      failures.push(`no ${c.status} ${c.error}: ${what}`);
    if (!r.closedBy.startsWith("server")) failures.push(`still open after ${bound} ms: ${what}`);
    // What the server read past the cap is at most the allowance; the rest of what the client
    // wrote sat in the two kernels' socket buffers.
    else if (r.sent > CAP + DRAIN_ALLOWANCE_BYTES + SOCKET_BUFFERS_BYTES)
      failures.push(`over the drain allowance (${DRAIN_ALLOWANCE_BYTES} B past the cap): ${what}`);
    if (during !== undefined && duringStatus !== 200) failures.push(`admin port not serving during: ${what}`);
    if (afterStatus !== 200) failures.push(`admin port not serving after: ${what}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${CASES.length} failed; ${seedNote(SEED)}`);
});
