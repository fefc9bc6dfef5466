// upstream-early-answer.test.ts for members behind TLS (pools.P.tls): an upstream that answers
// before it read the upload and closes with the body unread (its kernel then sends RST) must see
// its answer relayed, not a 502. Such members always go through Node's https agent (the undici
// engine forwards plain members only), whose sockets did not get the read-before-write hold
// (proxy/forward/read-before-write-error.ts): found on the old code, most rounds answered 502
// upstream_reset. Both engine settings run, as a user would set them.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { ENGINES, startPerEngine } from "../support/per-engine.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";
import { streamedUpload } from "../support/streamed-upload.js";
import { issueCert, makeCa } from "../support/test-ca.js";

const SEED = testSeed(413_443);
const ROUNDS = 16;

/** Answers on the request head (status from the path) and closes with the body unread. */
function earlyAnswerer(s: TLSSocket): void {
  let head = "";
  s.on("error", () => {});
  s.on("data", (d) => {
    head += d.toString("latin1");
    if (!head.includes("\r\n\r\n")) return;
    s.removeAllListeners("data");
    s.pause();
    const status = Number(/^\w+ \/(\d+)\//.exec(head)?.[1] ?? 200);
    const body = status === 413 ? "too large" : "stored";
    s.write(`HTTP/1.1 ${status} X\r\ncontent-length: ${body.length}\r\n\r\n${body}`, () => s.destroy());
  });
}

let dir = "";
let upstream: Server;
const running = new Map<string, RunningShardgate>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sg-early-tls-"));
  makeCa(dir);
  issueCert(dir, "member", "127.0.0.1", "IP:127.0.0.1");
  upstream = createServer(
    { cert: readFileSync(join(dir, "member.pem")), key: readFileSync(join(dir, "member.key")) },
    earlyAnswerer,
  );
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as { port: number }).port;
  for (const [engine, sg] of await startPerEngine(port, [
    `tls: { ca: ${join(dir, "ca.pem")} }`,
    "timeouts: { response: 20s }",
    "breaker: { consecutiveFailures: 100000, minRequests: 100000 }",
  ]))
    running.set(engine, sg);
});

after(async () => {
  await stopAll();
  await new Promise<void>((r) => upstream.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

for (const engine of ENGINES) {
  test(`${engine} setting, TLS member: a response sent whole before the upstream reset is relayed`, {
    timeout: 240_000,
  }, async () => {
    const sg = running.get(engine);
    assert.ok(sg);
    const random = seededRandom(SEED);
    const failures: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const status = random() < 0.5 ? 413 : 200;
      const size = 256 * 1024 + Math.floor(random() * 768 * 1024);
      const path = `/${status}/${engine}${i}`;
      const r = await streamedUpload(Number(new URL(sg.httpUrl).port), path, size);
      const want = status === 413 ? "too large" : "stored";
      const ok = r.reply.startsWith(`HTTP/1.1 ${status} `) && r.reply.endsWith(`\r\n\r\n${want}`);
      const line = await sg.proc.waitForLine(
        `the access line of ${path}`,
        (l) => l.type === "access" && l.path === path,
      );
      if (!ok || line.status !== status || line.error !== null)
        failures.push(
          `${path} (${size} B): ${JSON.stringify(r.reply.slice(0, 60))} logged ${line.status} ${String(line.error)}`,
        );
    }
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${ROUNDS} lost the upstream's answer; ${seedNote(SEED)}`,
    );
  });
}
