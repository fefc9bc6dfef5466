// The client side of an early answer: shardgate answers (the upstream's 413/200 sent before it
// read the upload, or shardgate's own 400 for a request it will not forward) while the client is
// still sending its body, and then closes the connection. Closing with the client's body bytes
// unread in the receive buffer makes the kernel send RST: the client's next write fails, and a
// client that reads its answer only once it has sent the body (curl, most upload code) never
// sees it. Tried from the outside: a real shardgate process per engine, a raw TCP upstream that
// answers on the head and closes, a raw client that uploads a few MiB with its read side paused
// and reads only after its last write. Found on the old code: most rounds lost the answer (the
// client's write failed with EPIPE/ECONNRESET). nginx's lingering_close: FIN, read and drop
// what still arrives for a bounded time, then close.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { onRequestHead } from "../support/early-answer.js";
import { uploadThenRead } from "../support/late-reader.js";
import { startPerEngine } from "../support/per-engine.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";

const SEED = testSeed(2026_1206);
const ROUNDS = 12;
/** Both engines on plain ports, and a TLS listener (the client's socket is a TLSSocket there). */
const ENGINES = ["undici", "http-proxy", "https-listener"] as const;

/** Answers on the request head (status from the path, /413/ or /200/) and closes without reading the body. */
function earlyAnswerer(s: Socket): void {
  onRequestHead(s, (head) => {
    const status = /^\w+ \/(\d+)\//.exec(head)?.[1] ?? "200";
    s.end(`HTTP/1.1 ${status} X\r\ncontent-length: 5\r\nconnection: close\r\n\r\nearly`);
  });
}

let upstream: Server;
let dir = "";
let ca: Buffer;
const running = new Map<string, RunningShardgate>();

before(async () => {
  upstream = createServer(earlyAnswerer);
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), "sg-linger-"));
  makeCa(dir);
  issueCert(dir, "listener", "127.0.0.1", "IP:127.0.0.1");
  ca = readFileSync(join(dir, "ca.pem"));
  const pool = ["breaker: { consecutiveFailures: 100000, minRequests: 100000 }"];
  const routeLines = ["onMissingKey: reject"];
  for (const [engine, sg] of await startPerEngine(port, pool, { routeLines })) running.set(engine, sg);
  // The TLS listener, undici engine.
  const tls = await startPerEngine(port, pool, {
    routeLines,
    listenExtra: `, tls: { cert: ${join(dir, "listener.pem")}, key: ${join(dir, "listener.key")} }`,
    engines: ["undici"],
  });
  running.set("https-listener", tls.get("undici") as RunningShardgate);
});

after(async () => {
  await stopAll();
  await new Promise<void>((r) => upstream.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

for (const engine of ENGINES) {
  test(`${engine}: an answer sent before the upload was read reaches a client that reads it after uploading`, {
    timeout: 300_000,
  }, async () => {
    const sg = running.get(engine);
    assert.ok(sg);
    const port = Number(new URL(sg.httpUrl).port);
    const random = seededRandom(SEED);
    const lost: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // The upstream's early 413 or 200, or shardgate's own 400 (no key: never forwarded).
      const kind = ["413", "200", "own400"][Math.floor(random() * 3)];
      const close = random() < 0.5 ? "Connection: close\r\n" : "";
      const size = 4 * 1024 * 1024 + Math.floor(random() * 4 * 1024 * 1024);
      const path = kind === "own400" ? `/x/${engine}${i}` : `/${kind}/${engine}${i}`;
      const key = kind === "own400" ? "" : "x-user-id: k\r\n";
      const head = `POST ${path} HTTP/1.1\r\nHost: a\r\n${key}${close}content-length: ${size}\r\n\r\n`;
      const r = await uploadThenRead({
        port,
        head,
        size,
        tlsCa: engine === "https-listener" ? ca : undefined,
      });
      const want = kind === "own400" ? "HTTP/1.1 400 " : `HTTP/1.1 ${kind} `;
      if (!r.reply.startsWith(want))
        lost.push(
          `${path} (${size} B${close === "" ? "" : ", close"}): ${JSON.stringify(r.reply.slice(0, 40))} ${r.writeError}`,
        );
    }
    assert.deepEqual(lost, [], `${lost.length} of ${ROUNDS} answers lost; ${seedNote(SEED)}`);
  });
}
