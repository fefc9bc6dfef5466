// An upstream that answers before it read the request body and then closes (a 413 for an upload
// too large, a 200 from a handler that never reads): its complete response is in shardgate's
// hands, but closing with unread body bytes in its receive buffer makes its kernel send RST,
// and shardgate's write of the rest of the body fails. Tried from the outside: a real shardgate
// process per engine, one member, a raw TCP upstream that reads the head only, answers with a
// Content-Length and then resets (`resetAndDestroy()`) or closes with the body unread; a client
// uploads a body of a few hundred KiB. Found: shardgate answered 502 upstream_reset instead of
// the response it had received whole, some of the time (a race between the parser delivering
// the response and the body write's ECONNRESET). A proxy relays a response it received whole
// (nginx and Envoy do); the access log carries the upstream's status and no error.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { ENGINES, startPerEngine } from "../support/per-engine.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";
import { streamedUpload } from "../support/streamed-upload.js";

const SEED = testSeed(413_2026);
const ROUNDS = 24;

/** How the upstream leaves after answering, per request path ("/rst/..." or "/close/..."). */
function earlyAnswerer(s: Socket): void {
  let head = "";
  let answered = false;
  s.on("error", () => {});
  s.on("data", (d) => {
    if (answered) return;
    head += d.toString("latin1");
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    answered = true;
    // Stop reading: the body stays unread in the receive buffer.
    s.pause();
    const m = /^\w+ \/(\w+)\/(\d+)/.exec(head) ?? [];
    const status = Number(m[2] ?? 200);
    const body = status === 413 ? "too large" : "stored";
    s.write(
      `HTTP/1.1 ${status} X\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      () => {
        if (m[1] === "rst") s.resetAndDestroy();
        else s.destroy(); // a close with unread bytes: the kernel sends RST all the same
      },
    );
  });
}

let upstream: Server;
let upstreamPort = 0;
const running = new Map<string, RunningShardgate>();

before(async () => {
  upstream = createServer(earlyAnswerer);
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamPort = (upstream.address() as { port: number }).port;
  for (const [engine, sg] of await startPerEngine(upstreamPort, [
    "timeouts: { response: 20s }",
    "breaker: { consecutiveFailures: 100000, minRequests: 100000 }",
  ]))
    running.set(engine, sg);
});

after(async () => {
  await stopAll();
  await new Promise<void>((r) => upstream.close(() => r()));
});

for (const engine of ENGINES) {
  test(`${engine}: a response the upstream sent whole before resetting is relayed, not a 502`, {
    timeout: 240_000,
  }, async () => {
    const sg = running.get(engine);
    assert.ok(sg);
    const random = seededRandom(SEED);
    const failures: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const how = random() < 0.5 ? "rst" : "close";
      const status = random() < 0.5 ? 413 : 200;
      const size = 256 * 1024 + Math.floor(random() * 768 * 1024);
      const path = `/${how}/${status}/${engine}${i}`;
      const r = await streamedUpload(Number(new URL(sg.httpUrl).port), path, size);
      const want = status === 413 ? "too large" : "stored";
      const ok = r.reply.startsWith(`HTTP/1.1 ${status} `) && r.reply.endsWith(`\r\n\r\n${want}`);
      const line = await sg.proc.waitForLine(
        `the access line of ${path}`,
        (l) => l.type === "access" && l.path === path,
      );
      if (!ok || line.status !== status || line.error !== null)
        failures.push(
          `${path} (${size} B): ${JSON.stringify(r.reply.slice(0, 90))} logged ${line.status} ${String(line.error)}`,
        );
    }
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${ROUNDS} lost the upstream's answer; ${seedNote(SEED)}`,
    );
  });
}
